#!/usr/bin/python3
"""Loads Metaflow runs into a real metadata service through its REST API, the way Metaflow's
ServiceMetadataProvider writes them (metaflow/plugins/metadata_providers/service.py):
POST /flows/F, POST /flows/F/run, POST .../runs/N/steps/S/step, POST .../steps/S/task,
POST .../tasks/T/metadata (lists), POST .../tasks/T/artifact (one list per attempt),
PATCH .../runs/N/tag/mutate. Every write is replayed in the order it originally happened
(by its recorded ts_epoch), so a fresh database hands out the same run numbers, task ids and
metadata ids as when the runs were made.

Two sources:
  --recorded DIR  the recorded GET answers of ../shared/fixtures/metaflow-service/recorded: the
                  objects they hold are written back as they were (same ids on a fresh database);
  --store DIR     a local store's .metaflow (local metadata: _self.json, sysmeta_*.json,
                  <attempt>_artifact_<name>.json, which hold exactly the bodies the client posts);
                  the service numbers its runs and tasks itself, so --mapping records which
                  service id each local run and task got. With --s3-root the locations are
                  registered as Metaflow's S3 datastore writes them (ds_type s3, :root:<s3 root>).

Standard library only (Debian's /usr/bin/python3): the test fixture runs it before any build
product exists, and the service itself already needs that interpreter.
"""
import argparse
import concurrent.futures
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request

COUNT_LOCK = threading.Lock()  # counts and requests are added to from several threads
ORDER = {"flow": 0, "run": 1, "step": 2, "task": 3, "metadata": 4, "artifact": 5, "tag": 6}


class Service:
    def __init__(self, url):
        self.url = url.rstrip("/")
        self.requests = 0

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with COUNT_LOCK:
            self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise SystemExit("%s %s: HTTP %d %s" % (method, path, e.code, e.read().decode()[:300]))
        return json.loads(text) if text else None


def tags_of(o):
    return {"user_name": o.get("user_name"), "tags": o.get("tags") or [], "system_tags": o.get("system_tags") or []}


# ---- recorded answers -------------------------------------------------------------------------
def recorded_events(folder):
    """Every flow, run, step, task, metadata row and artifact the recorded answers hold."""
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    flows, runs, steps, tasks, metadata, artifacts = {}, {}, {}, {}, {}, {}

    def visit(o):
        if isinstance(o, list):
            for x in o:
                visit(x)
            return
        if isinstance(o, dict) and "data" in o and isinstance(o["data"], list):
            visit(o["data"])  # a paged answer
            return
        if not isinstance(o, dict) or "flow_id" not in o:
            return
        if "field_name" in o:
            metadata[o["id"]] = o
        elif "sha" in o and "name" in o:
            artifacts[(o["flow_id"], str(o["run_number"]), o["step_name"], str(o["task_id"]), o["name"], o["attempt_id"])] = o
        elif "task_id" in o:
            tasks[(o["flow_id"], str(o["run_number"]), o["step_name"], str(o["task_id"]))] = o
        elif "step_name" in o:
            steps[(o["flow_id"], str(o["run_number"]), o["step_name"])] = o
        elif "run_number" in o:
            runs[(o["flow_id"], str(o["run_number"]))] = o
        else:
            flows[o["flow_id"]] = o

    for key, entry in manifest["requests"].items():
        if entry["status"] != 200 or not key.startswith("GET /flows"):
            continue
        try:
            visit(json.load(open(os.path.join(folder, entry["file"]))))
        except ValueError:
            pass
    events = []
    for f, o in flows.items():
        events.append((o["ts_epoch"], "flow", f, None))
    # A run's tags as created: the tags its tasks were stamped with; the rest came by tag/mutate.
    for (f, r), o in runs.items():
        task_tags = [t["tags"] for k, t in tasks.items() if k[:2] == (f, r)]
        created = dict(tags_of(o), tags=task_tags[0] if task_tags else o["tags"])
        events.append((o["ts_epoch"], "run", (f, r), created))
        added = [t for t in o["tags"] or [] if t not in created["tags"]]
        if added:
            events.append((max(t["ts_epoch"] for k, t in tasks.items() if k[:2] == (f, r)) + 1, "tag", (f, r), added))
    for (f, r, s), o in steps.items():
        events.append((o["ts_epoch"], "step", (f, r, s), tags_of(o)))
    for (f, r, s, t), o in tasks.items():
        events.append((o["ts_epoch"], "task", (f, r, s, t), tags_of(o)))
    for i, o in sorted(metadata.items()):
        body = {k: o[k] for k in ("field_name", "value", "type", "user_name", "tags", "system_tags")}
        events.append((o["ts_epoch"], "metadata", (o["flow_id"], str(o["run_number"]), o["step_name"], str(o["task_id"]), i), [body]))
    by_attempt = {}
    for (f, r, s, t, name, a), o in artifacts.items():
        by_attempt.setdefault((f, r, s, t, a), []).append(o)
    # The service stamps each artifact row with its own insert time and pages them by that time
    # (then by name): one row per POST, a few ms apart, so the rows get the order they were
    # recorded in (a list POSTed at once gets one millisecond, and the pages a different order).
    for (f, r, s, t, name, a), o in artifacts.items():
        body = {k: o[k] for k in ("name", "location", "ds_type", "sha", "type", "content_type", "user_name",
                                  "attempt_id", "tags", "system_tags")}
        events.append((o["ts_epoch"], "artifact", (f, r, s, t, name), [body]))
    return events


# ---- a local store -----------------------------------------------------------------------------
def read_json(path):
    with open(path) as f:
        return json.load(f)


def local_events(root, s3_root):
    events = []
    for flow in sorted(os.listdir(root)):
        fdir = os.path.join(root, flow)
        if not os.path.isfile(os.path.join(fdir, "_meta", "_self.json")):
            continue
        events.append((read_json(os.path.join(fdir, "_meta", "_self.json"))["ts_epoch"], "flow", flow, None))
        for run in sorted(os.listdir(fdir)):
            rdir = os.path.join(fdir, run)
            if not os.path.isfile(os.path.join(rdir, "_meta", "_self.json")):
                continue
            o = read_json(os.path.join(rdir, "_meta", "_self.json"))
            events.append((o["ts_epoch"], "run", (flow, run), tags_of(o)))
            for step in sorted(os.listdir(rdir)):
                sdir = os.path.join(rdir, step)
                if not os.path.isfile(os.path.join(sdir, "_meta", "_self.json")):
                    continue
                o = read_json(os.path.join(sdir, "_meta", "_self.json"))
                events.append((o["ts_epoch"], "step", (flow, run, step), tags_of(o)))
                for task in sorted(os.listdir(sdir)):
                    mdir = os.path.join(sdir, task, "_meta")
                    if task == "_meta" or not os.path.isfile(os.path.join(mdir, "_self.json")):
                        continue
                    key = (flow, run, step, task)
                    o = read_json(os.path.join(mdir, "_self.json"))
                    events.append((o["ts_epoch"], "task", key, tags_of(o)))
                    posts, attempts = {}, {}
                    for name in sorted(os.listdir(mdir)):
                        if name.startswith("sysmeta_"):
                            d = read_json(os.path.join(mdir, name))
                            posts.setdefault(d["ts_epoch"], []).append(s3_metadata(d, flow, s3_root))
                        elif re.match(r"^\d+_artifact_.*\.json$", name):
                            d = read_json(os.path.join(mdir, name))
                            attempts.setdefault(d["attempt_id"], []).append(s3_artifact(d, s3_root))
                    # One POST per registration call: the entries a call wrote share its time.
                    for ts, body in sorted(posts.items()):
                        events.append((ts, "metadata", key, [strip_ids(d) for d in body]))
                    for a, body in sorted(attempts.items()):
                        events.append((min(d["ts_epoch"] for d in body), "artifact", key, [strip_ids(d) for d in body]))
    return events


def strip_ids(d):
    return {k: v for k, v in d.items() if k not in ("flow_id", "run_number", "step_name", "task_id", "ts_epoch")}


def s3_metadata(d, flow, s3_root):
    if not s3_root:
        return d
    d = dict(d)
    if d["field_name"] == "ds-type":
        d["value"] = "s3"
    elif d["field_name"] == "ds-root":
        d["value"] = s3_root
    elif d["field_name"] == "code-package":
        pkg = json.loads(d["value"])
        pkg["ds_type"] = "s3"
        pkg["location"] = "%s/%s/data/%s/%s" % (s3_root, flow, pkg["sha"][:2], pkg["sha"])
        d["value"] = json.dumps(pkg)
    return d


def s3_artifact(d, s3_root):
    if not s3_root:
        return d
    return dict(d, ds_type="s3", location=":root:" + s3_root)


# ---- writing ------------------------------------------------------------------------------------
def replay(svc, events, mapping, threads=1):
    """Writes `events` in time order. With threads > 1 the flows and runs are created in order
    first, then each run's contents in parallel (the service commits every row on its own, so a
    sequential load spends most of its time waiting): ids then differ between loads, the mapping
    says which is which."""
    if threads > 1:
        heads = [e for e in events if e[1] in ("flow", "run")]
        replay(svc, heads, mapping)
        per_run = {}
        for e in events:
            if e[1] not in ("flow", "run"):
                per_run.setdefault(e[2][:2], []).append(e)
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(replay, svc, run_events, mapping) for run_events in per_run.values()]:
                f.result()
        return
    runs, tasks = mapping.setdefault("runs", {}), mapping.setdefault("tasks", {})
    counts = mapping.setdefault("counts", {})
    # A parent is written before its children even where the clocks disagree (a step's _self.json
    # can be stamped a millisecond before its run's).
    parent_ts = {}
    ordered = []
    for ts, kind, key, body in sorted(events, key=lambda e: (ORDER[e[1]], e[0])):
        parent = {"flow": None, "run": key[0], "step": key[:2], "task": key[:3], "tag": key}.get(kind, key[:4])
        ts = max(ts, parent_ts.get(parent, ts))
        if kind in ("flow", "run", "step", "task"):
            parent_ts[key] = ts
        ordered.append((ts, kind, key, body))
    for ts, kind, key, body in sorted(ordered, key=lambda e: (e[0], ORDER[e[1]], e[2])):
        with COUNT_LOCK:
            counts[kind] = counts.get(kind, 0) + (len(body) if kind in ("metadata", "artifact") else 1)
        if kind == "artifact" and len(key) == 5:
            time.sleep(0.003)  # a recorded artifact: see recorded_events
        if kind == "flow":
            svc.call("POST", "/flows/%s" % key, {})
        elif kind == "run":
            f, r = key
            made = svc.call("POST", "/flows/%s/run" % f, body)
            runs["%s/%s" % (f, r)] = str(made["run_number"])
        elif kind == "step":
            f, r, s = key
            n = runs["%s/%s" % (f, r)]
            svc.call("POST", "/flows/%s/runs/%s/steps/%s/step" % (f, n, s), dict(body, run_number=n, step_name=s))
        elif kind == "task":
            f, r, s, t = key
            n = runs["%s/%s" % (f, r)]
            made = svc.call("POST", "/flows/%s/runs/%s/steps/%s/task" % (f, n, s), dict(body, run_number=n, step_name=s))
            tasks["%s/%s/%s/%s" % key] = str(made["task_id"])
        elif kind in ("metadata", "artifact"):
            f, r, s, t = key[:4]
            n, tid = runs["%s/%s" % (f, r)], tasks["%s/%s/%s/%s" % (f, r, s, t)]
            rows = [dict(d, flow_id=f, run_number=n, step_name=s, task_id=tid) for d in body]
            svc.call("POST", "/flows/%s/runs/%s/steps/%s/tasks/%s/%s" % (f, n, s, tid, kind), rows)
        elif kind == "tag":
            f, r = key
            svc.call("PATCH", "/flows/%s/runs/%s/tag/mutate" % (f, runs["%s/%s" % (f, r)]),
                     {"tags_to_add": body, "tags_to_remove": []})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--recorded", action="append", default=[])
    p.add_argument("--store", action="append", default=[], help="a .metaflow folder")
    p.add_argument("--s3-root", default="", help="register --store locations under this S3 datastore root")
    p.add_argument("--threads", type=int, default=6, help="runs of --store written at once")
    p.add_argument("--mapping", help="write {runs, tasks, counts, requests} here")
    a = p.parse_args()
    svc = Service(a.url)
    mapping = {"s3_root": a.s3_root}
    for folder in a.recorded:
        replay(svc, recorded_events(folder), mapping)
    events = []
    for root in a.store:
        events += local_events(root, a.s3_root)
    replay(svc, events, mapping, threads=a.threads)
    mapping["requests"] = svc.requests
    if a.mapping:
        with open(a.mapping, "w") as f:
            json.dump(mapping, f, indent=1, sort_keys=True)
    print("loaded %s with %d requests" % (json.dumps(mapping["counts"], sort_keys=True), svc.requests), file=sys.stderr)


if __name__ == "__main__":
    main()
