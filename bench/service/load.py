#!/usr/bin/python3
"""Fills a real metadata service's PostgreSQL with a production-size history, for bench/service/bench.py.

The rows are copies of rows the service itself stored for the recorded fixture flows (load those
first with tests/support/live_service.py --recorded): every column as the service wrote it, with new
run numbers, task ids and metadata ids, times moved, and the run's user and tags put in. Written
with COPY through psql (the service's API commits one row per insert: days for 6 million rows).

  20 flows: BigFlow (10,000 runs), Flow01..Flow18 (2,200 each), copies of LinearFlow/1;
            WideFlow (399 runs of ForeachFlow/4's 10-task foreach, and one run whose foreach has
            5,000 tasks, 20 of them failed, so the run failed before its join);
  runs spread over 90 days, 25 users (a few do most runs), user tags from a small vocabulary,
  8% failed: the end step never ran, the failing task's attempt_ok and _task_ok/_success are
  those of FailFlow/5's failed task.
Artifact blobs: the recorded flows' datastore copied under each flow and under the recorded flows'
own names (as production keeps every run's blobs), plus the 5,000-task foreach's
own (item, square, _foreach_stack, ...) written as Metaflow writes them (gzip of a protocol-4 pickle
at data/<sha[:2]>/<sha>), into --datastore.
"""
import argparse
import gzip
import hashlib
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time

DAY_MS = 86400 * 1000
USERS = ["ana", "bo", "chen", "dara", "eli", "fatima", "gus", "hiro", "ines", "jon", "kofi", "lena", "mo",
         "nadia", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma", "vik", "wen", "xena", "yusuf"]
USER_WEIGHTS = [30, 20, 15, 10, 8] + [2] * 20
TAGS = ["team:alpha", "team:beta", "team:gamma", "nightly", "experiment", "prod", "ab-test", "backfill"]
RARE_TAG = "release-candidate"  # on ~2% of the runs: the "runs with a tag" question


class Psql:
    def __init__(self, port):
        pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        self.cmd = ["/usr/lib/postgresql/%s/bin/psql" % pgbin, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                    "-d", "metaflow", "-v", "ON_ERROR_STOP=1", "-qtA"]
        self.env = dict(os.environ, PGPASSWORD="postgres")

    def query(self, sql):
        return subprocess.run(self.cmd + ["-c", sql], env=self.env, check=True, capture_output=True, text=True).stdout

    def rows(self, table, where):
        """Rows as lists of text (None for NULL), from COPY's text format."""
        out = self.query("COPY (SELECT * FROM %s WHERE %s) TO STDOUT" % (table, where))
        return [[None if c == "\\N" else unescape(c) for c in line.split("\t")] for line in out.splitlines()]

    def columns(self, table):
        return self.query("SELECT column_name FROM information_schema.columns WHERE table_name = '%s' "
                          "ORDER BY ordinal_position" % table).split()

    def copy_in(self, table, lines):
        p = subprocess.Popen(self.cmd + ["-c", "COPY %s FROM STDIN" % table], env=self.env, stdin=subprocess.PIPE)
        n = 0
        for line in lines:
            p.stdin.write(line.encode())
            n += 1
        p.stdin.close()
        if p.wait() != 0:
            raise SystemExit("COPY %s failed" % table)
        return n


def unescape(c):
    return c.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")


def line(cells):
    return "\t".join("\\N" if c is None else str(c).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                     for c in cells) + "\n"


class Template:
    """One recorded run's rows, by table, as dicts."""

    def __init__(self, db, flow, run):
        self.tables = {}
        for t in ("runs_v3", "steps_v3", "tasks_v3", "metadata_v3", "artifact_v3"):
            cols = db.columns(t)
            self.tables[t] = [dict(zip(cols, r)) for r in db.rows(t, "flow_id = '%s' AND run_number = %d" % (flow, run))]
        self.t0 = int(self.tables["runs_v3"][0]["ts_epoch"])

    def tasks(self, step):
        return [t for t in self.tables["tasks_v3"] if t["step_name"] == step]


class Writer:
    def __init__(self, db):
        self.db = db
        self.cols = {t: db.columns(t) for t in ("flows_v3", "runs_v3", "steps_v3", "tasks_v3", "metadata_v3", "artifact_v3")}
        self.out = {t: [] for t in self.cols}
        self.next_task = int(db.query("SELECT coalesce(max(task_id), 0) + 1 FROM tasks_v3"))
        self.next_md = int(db.query("SELECT coalesce(max(id), 0) + 1 FROM metadata_v3"))

    def add(self, table, row):
        self.out[table].append(line(row.get(c) for c in self.cols[table]))

    def flush(self):
        counts = {}
        for t in ("flows_v3", "runs_v3", "steps_v3", "tasks_v3", "metadata_v3", "artifact_v3"):
            counts[t] = self.db.copy_in(t, self.out[t])
            self.out[t] = []
        return counts


def copy_run(w, tpl, flow, number, ts, user, tags, failed, fail_rows, foreach=None):
    """One run from `tpl`: `failed` drops the end (and join) steps and fails one task of the step
    before; `foreach` = (width, failed indices, blobs) widens the template's foreach step."""
    shift = ts - tpl.t0
    system_tags = json.dumps(["metaflow_version:2.19.38", "user:%s" % user, "python_version:3.11.7", "runtime:dev"])
    user_tags = json.dumps(tags)

    def moved(row, run_tags=True, **extra):
        r = dict(row, flow_id=flow, run_number=str(number), ts_epoch=str(int(row["ts_epoch"]) + shift), **extra)
        if r.get("run_id") == row["run_number"]:  # steps_v3 keeps the run number as text too
            r["run_id"] = str(number)
        if run_tags and r.get("tags") not in (None, "null"):  # a metadata row's tags are its attempt_id
            r["tags"], r["system_tags"] = user_tags, system_tags
        if r.get("user_name") == "tester":
            r["user_name"] = user
        if r.get("last_heartbeat_ts"):
            r["last_heartbeat_ts"] = str(int(r["last_heartbeat_ts"]) + shift // 1000)
        return r

    skip = {"end", "join"} if failed else set()
    steps = [s for s in tpl.tables["steps_v3"] if s["step_name"] not in skip]
    run = moved(tpl.tables["runs_v3"][0])
    if failed:  # the heartbeat stopped when the failed task did
        run["last_heartbeat_ts"] = str(ts // 1000 + 30)
    w.add("runs_v3", run)
    last_step = max(steps, key=lambda s: int(s["ts_epoch"]))["step_name"]
    for s in steps:
        w.add("steps_v3", moved(s))
        tasks = tpl.tasks(s["step_name"])
        copies = [(t, None) for t in tasks]
        if foreach and s["step_name"] == "process":
            copies = [(tasks[i % len(tasks)], i) for i in range(foreach[0])]
        for k, (t, index) in enumerate(copies):
            task_id = w.next_task
            w.next_task += 1
            fails = (foreach is None and failed and s["step_name"] == last_step and k == len(copies) - 1) or \
                    (foreach is not None and index in foreach[1])
            w.add("tasks_v3", moved(t, task_id=str(task_id)))
            for m in tpl.tables["metadata_v3"]:
                if m["task_id"] != t["task_id"]:
                    continue
                extra = {"task_id": str(task_id), "id": str(w.next_md)}
                w.next_md += 1
                if m["field_name"] == "attempt_ok" and fails:
                    extra["value"] = "False"
                elif m["field_name"] == "user":
                    extra["value"] = user
                elif index is not None and m["field_name"] == "foreach-stack":
                    extra["value"] = "{items=%d}" % index
                elif index is not None and m["field_name"] == "foreach-execution-path":
                    extra["value"] = "process:%d" % index
                w.add("metadata_v3", moved(m, run_tags=False, **extra))
            for a in tpl.tables["artifact_v3"]:
                if a["task_id"] != t["task_id"]:
                    continue
                extra = {"task_id": str(task_id)}
                if fails and a["name"] in fail_rows:
                    extra["sha"] = fail_rows[a["name"]]
                if index is not None and a["name"] in foreach[2]:
                    extra["sha"] = foreach[2][a["name"]](index)
                w.add("artifact_v3", moved(a, **extra))


def put_blob(data_dir, value_pickle):
    sha = hashlib.sha1(value_pickle).hexdigest()
    path = os.path.join(data_dir, sha[:2], sha)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(gzip.compress(value_pickle, mtime=0))
        with open(path + "_meta", "w") as f:
            f.write('{"cas_raw": false, "cas_version": 1}')
    return sha


def foreach_frame(width, index):
    """The pickle Metaflow writes for _foreach_stack: [ForeachFrame('process', 'items', width, index, 'index')]."""
    def integer(n):
        return b"K" + bytes([n]) if n < 256 else b"M" + n.to_bytes(2, "little")
    value = str(index).encode()
    body = (b"]\x94\x8c\x08__main__\x94\x8c\x0cForeachFrame\x94\x93\x94(\x8c\x07process\x94\x8c\x05items\x94" +
            integer(width) + integer(index) + b"\x8c" + bytes([len(value)]) + value + b"\x94t\x94\x81\x94a.")
    return b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--datastore", required=True, help="the folder that receives .metaflow/<Flow>/data")
    p.add_argument("--recorded-datastore", required=True, help="../shared/fixtures/metaflow-service/datastore")
    p.add_argument("--runs", type=int, default=50000)
    p.add_argument("--big-flow-runs", type=int, default=10000)
    p.add_argument("--foreach-width", type=int, default=5000)
    p.add_argument("--seed", type=int, default=15)
    a = p.parse_args()
    rng = random.Random(a.seed)
    db = Psql(a.pg_port)
    linear, wide, fail = Template(db, "LinearFlow", 1), Template(db, "ForeachFlow", 4), Template(db, "FailFlow", 5)
    fail_rows = {x["name"]: x["sha"] for x in fail.tables["artifact_v3"]
                 if x["step_name"] == "explode" and x["name"] in ("_task_ok", "_success", "_exception")}
    now = int(time.time() * 1000)
    others = ["Flow%02d" % i for i in range(1, 19)]
    wide_runs = 400
    per_other = (a.runs - a.big_flow_runs - wide_runs) // len(others)
    plan = [("BigFlow", linear)] * a.big_flow_runs + [(f, linear) for f in others for _ in range(per_other)] + \
           [("WideFlow", wide)] * wide_runs
    # Run numbers grow with time, as the service hands them out.
    stamps = sorted(now - rng.randrange(1, 90 * DAY_MS) for _ in plan)
    rng.shuffle(plan)
    big_foreach_at = max(i for i, (f, _) in enumerate(plan) if f == "WideFlow")  # WideFlow's newest run
    flow_names = ["BigFlow"] + others + ["WideFlow"]
    src = os.path.join(a.recorded_datastore, ".metaflow")
    for f in flow_names:
        data = os.path.join(a.datastore, ".metaflow", f, "data")
        for tf in ("LinearFlow", "ForeachFlow", "FailFlow"):
            shutil.copytree(os.path.join(src, tf, "data"), data, dirs_exist_ok=True)
    # The recorded flows themselves (loaded before, with their own names) read their blobs -- the
    # _graph_info the run status rule reads, above all -- where production keeps them: under their own flow.
    for tf in sorted(os.listdir(src)):
        if os.path.isdir(os.path.join(src, tf, "data")):
            shutil.copytree(os.path.join(src, tf, "data"), os.path.join(a.datastore, ".metaflow", tf, "data"),
                            dirs_exist_ok=True)
    w = Writer(db)
    for f in flow_names:
        w.add("flows_v3", {"flow_id": f, "user_name": None, "ts_epoch": str(stamps[0] - 1000), "tags": "null",
                           "system_tags": "null"})
    first_run = int(db.query("SELECT coalesce(max(run_number), 0) + 1 FROM runs_v3"))
    wide_data = os.path.join(a.datastore, ".metaflow", "WideFlow", "data")
    width = a.foreach_width
    failed_tasks = set(range(width // 40, width, width // 20))  # 20 of 5,000
    blobs = {"item": lambda i: put_blob(wide_data, pickle.dumps(i, protocol=4)),
             "square": lambda i: put_blob(wide_data, pickle.dumps(i * i, protocol=4)),
             "_foreach_stack": lambda i: put_blob(wide_data, foreach_frame(width, i))}
    counts = {"failed_runs": 0, "rare_tag_runs": 0}
    started = time.time()
    for i, ((flow, tpl), ts) in enumerate(zip(plan, stamps)):
        user = rng.choices(USERS, USER_WEIGHTS)[0]
        tags = rng.sample(TAGS, rng.choice([0, 1, 1, 2]))
        if rng.random() < 0.02:
            tags.append(RARE_TAG)
            counts["rare_tag_runs"] += 1
        big = i == big_foreach_at
        failed = big or rng.random() < 0.08
        counts["failed_runs"] += failed
        copy_run(w, tpl, flow, first_run + i, ts, user, tags, failed, fail_rows,
                 foreach=(width, failed_tasks, blobs) if big else None)
        if big:
            counts["foreach_run"] = "WideFlow/%d" % (first_run + i)
        if len(w.out["metadata_v3"]) > 500000:
            w.flush()
    written = w.flush()
    db.query("SELECT setval('runs_v3_run_number_seq', (SELECT max(run_number) FROM runs_v3))")
    db.query("SELECT setval('tasks_v3_task_id_seq', (SELECT max(task_id) FROM tasks_v3))")
    db.query("SELECT setval('metadata_v3_id_seq', (SELECT max(id) FROM metadata_v3))")
    db.query("ANALYZE")
    for t in written:
        counts[t] = int(db.query("SELECT count(*) FROM %s" % t))
    counts.update(flows=len(flow_names), runs_written=len(plan), foreach_width=width, foreach_failed=len(failed_tasks),
                  rare_tag=RARE_TAG, load_s=round(time.time() - started, 1))
    json.dump(counts, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
