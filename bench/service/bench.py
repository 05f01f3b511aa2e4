#!/usr/bin/python3
"""Production-size questions on the real metadata service (bench/service/bench.sh up loads it).

For each question: the answer's rows, the requests mfsql sent and the bytes it received (from its
own metaflow_trace: kind 'http', every attempt; MFSQL_TRACE_KEEP keeps all of them), the datastore
files it read, wall time and peak RSS -- each question in a fresh process (cold: a new connection,
no cache), the best of --repeat. Next to it, the fewest requests the service's API allows for the
same answer and their time: those requests sent directly (one keep-alive connection, the blob
files of the answer read too where the question shows values), best of --repeat.

Drives the mfsql module through Python's sqlite3 (Debian's /usr/bin/python3), as a user would.
"""
import argparse
import http.client
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse


def questions(state):
    """name -> (sql, floor(get) -> the fewest requests' targets, or (targets, files the answer reads too);
    get(target) asks the service uncounted)."""
    foreach_flow, foreach_run = state["foreach_run"].split("/")
    tag = state["rare_tag"]
    week_ago_ms = int(time.time() * 1000) - 7 * 86400 * 1000
    week_ago = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(week_ago_ms / 1000))
    lookup = state["lookup"]
    return {
        # The three run status questions: the server's status is the answer only where the flow's
        # graph says it agrees with the client's rule (end step `end`, no @catch on it: EndpointsFlow
        # ends in `finish`), so the same correct answer also needs each flow's graph: the newest
        # run's _parameters artifact listing and its _graph_info blob (with_graphs).
        "latest 10 runs of the 10,000-run flow with status": (
            "SELECT run_id, status FROM runs WHERE flow = 'BigFlow' ORDER BY created_at DESC LIMIT 10",
            # The status filter turns on the server's status column; _limit=10 is the page.
            lambda get: with_graphs(state, get, ["BigFlow"],
                                    ["/flows/BigFlow/runs?status:eq=completed,failed,running&_limit=10"])),
        "latest successful run of every flow": (
            "SELECT flow, latest_successful_run FROM flows",
            lambda get: with_graphs(state, get, [f["flow_id"] for f in get("/flows")],
                                    ["/flows"] + ["/flows/%s/runs?status:eq=completed&_limit=1" % f["flow_id"]
                                                  for f in get("/flows")])),
        "failed runs of the last 7 days": (
            "SELECT flow, run_id FROM runs WHERE status = 'failed' AND created_at >= '%s'" % week_ago,
            lambda get: with_graphs(state, get, [f["flow_id"] for f in get("/flows")],
                                    ["/flows"] + ["/flows/%s/runs?status:eq=failed&ts_epoch:ge=%d&_limit=500"
                                                  % (f["flow_id"], week_ago_ms) for f in get("/flows")])),
        "runs with a tag (BigFlow)": (
            "SELECT run_id FROM tags WHERE flow = 'BigFlow' AND tag = '%s'" % tag,
            lambda get: ["/flows/BigFlow/runs?_tags:any=%s&_limit=500" % tag]),
        "failed tasks of the 5,000-task foreach": (
            "SELECT task_id FROM tasks WHERE flow = '%s' AND run_id = '%s' AND step = 'process' AND successful = 0"
            % (foreach_flow, foreach_run),
            # The task list less the server's attempt_ok=True tasks, then each candidate's _success.
            lambda get: failed_task_floor(get, foreach_flow, foreach_run)),
        "one artifact's value across the foreach": (
            "SELECT task_id, value FROM artifacts WHERE flow = '%s' AND run_id = '%s' AND step = 'process' "
            "AND name = 'square'" % (foreach_flow, foreach_run),
            # One unpaged listing of the step's artifacts (there is no name filter); blobs are files.
            lambda get: ["/flows/%s/runs/%s/steps/process/artifacts" % (foreach_flow, foreach_run)]),
        "point lookup by pathspec": (
            "SELECT value FROM artifacts WHERE pathspec = '%s'" % lookup,
            lambda get: ["/flows/%s/runs/%s/steps/%s/tasks/%s/artifacts/%s" % tuple(lookup.split("/"))]),
    }


def with_graphs(state, get, flows, targets):
    """targets plus, per flow, its newest run's _parameters artifact listing; and the graph blobs."""
    files = []
    for flow in flows:
        newest = get("/flows/%s/runs?_limit=1" % flow)
        if not newest:
            continue
        listing = "/flows/%s/runs/%s/steps/_parameters/artifacts" % (flow, newest[0]["run_number"])
        targets.append(listing)
        files += [os.path.join(state["datastore"], ".metaflow", a["flow_id"], "data", a["sha"][:2], a["sha"])
                  for a in get(listing) if a["name"] == "_graph_info"]
    return targets, files


def failed_task_floor(get, flow, run):
    """The fewest requests for the exact answer: a task with no attempt_ok at all (killed, never
    started) is in no filtered_tasks answer, only in the step's task list; the tasks the server
    calls successful (attempt_ok True, where the step has no @catch) are dropped from it, and each
    of the rest has its _success read. (The floor used to be filtered_tasks pattern=False plus
    each one's _success: 21 requests here, but blind to a killed task.)"""
    base = "/flows/%s/runs/%s/steps/process" % (flow, run)
    succeeded = base + "/filtered_tasks?metadata_field_name=attempt_ok&pattern=True"
    ok = {p.rsplit("/", 1)[1] for p in get(succeeded)}
    return [base + "/tasks", succeeded] + ["%s/tasks/%s/artifacts/_success" % (base, t["task_id"])
                                           for t in get(base + "/tasks") if str(t["task_id"]) not in ok]


# ---- one question in a fresh process --------------------------------------------------------------
def child(state, sql):
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(os.environ["MFSQL_MODULE"])
    for t in ("flows", "runs", "tags", "tasks", "artifacts"):
        db.execute("CREATE VIRTUAL TABLE temp.%s USING %s(service='%s', datastore='%s')"
                   % (t, t, state["url"], state["datastore"]))
    start = time.perf_counter()
    rows = db.execute(sql).fetchall()
    ms = (time.perf_counter() - start) * 1000
    http_n, http_bytes = db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM metaflow_trace "
                                    "WHERE kind = 'http' AND NOT cache_hit").fetchone()
    files = db.execute("SELECT count(*) FROM metaflow_trace WHERE kind = 'file' AND NOT cache_hit").fetchone()[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(rows), "requests": http_n, "bytes": http_bytes, "files": files, "ms": ms,
                      "rss_mib": rss, "answer": sorted(map(str, rows))[:3]}))


def run_child(state_path, sql, timeout_s, memory_gib):
    """The child's measurements, or None (and why) when it ran out of time or memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "MFSQL_SERVICE", "AWS_"))}

    def cap():  # a question that grows with the history must not take the shared machine down
        limit = int(memory_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # An empty METAFLOW_HOME (no profile of the user's), removed with whatever the child left in it.
    with tempfile.TemporaryDirectory(prefix="mfsql-bench-home-") as home:
        env.update(MFSQL_TRACE_KEEP="100000000", METAFLOW_HOME=home)
        try:
            out = subprocess.run([sys.executable, __file__, "--child", state_path, sql], env=env, capture_output=True,
                                 text=True, timeout=timeout_s, preexec_fn=cap)
        except subprocess.TimeoutExpired:
            return None, "gave up after %d s" % timeout_s
    if out.returncode != 0:
        return None, "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:150]
    return json.loads(out.stdout), None


# ---- the floor: the cheapest requests, sent directly -------------------------------------------
class Direct:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)

    def get(self, target):
        self.conn.request("GET", target)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit("GET %s: HTTP %d %s" % (target, r.status, body[:200]))
        return body


def floor(state, targets, blob_files, repeat):
    best = None
    for _ in range(repeat):
        d = Direct(state["url"])
        start = time.perf_counter()
        n = sum(len(d.get(t)) for t in targets)
        for path in blob_files:
            with open(path, "rb") as f:
                n += len(f.read())
        ms = (time.perf_counter() - start) * 1000
        best = ms if best is None else min(best, ms)
    return best, n


def blobs_of(state, target, name=None):
    """The datastore files an artifact listing's answer reads (its blobs), for the floor."""
    arts = json.loads(Direct(state["url"]).get(target))
    arts = arts if isinstance(arts, list) else [arts]
    return [os.path.join(state["datastore"], ".metaflow", a["flow_id"], "data", a["sha"][:2], a["sha"])
            for a in arts if name is None or a["name"] == name]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(json.load(open(sys.argv[2])), sys.argv[3])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="the folder bench.sh up filled")
    p.add_argument("--repeat", type=int, default=1, help="best of N (fresh processes)")
    p.add_argument("--only", help="questions whose name contains one of these (comma-separated)")
    p.add_argument("--timeout", type=int, default=900, help="seconds one question may take")
    p.add_argument("--memory-gib", type=float, default=6, help="address space one question may use")
    a = p.parse_args()
    state = json.load(open(os.path.join(a.dir, "load.json")))
    state["datastore"] = os.path.abspath(os.path.join(a.dir, "datastore"))
    get = lambda t: json.loads(Direct(state["url"]).get(t))  # uncounted look-ups, a fresh connection each
    if "lookup" not in state:  # one end task of a BigFlow run from the middle of its history
        runs = get("/flows/BigFlow/runs?_limit=500&status:eq=completed")
        run = runs[len(runs) // 2]["run_number"]
        task = get("/flows/BigFlow/runs/%s/steps/end/tasks" % run)[0]["task_id"]
        state["lookup"] = "BigFlow/%s/end/%s/name" % (run, task)
    state_path = os.path.join(a.dir, "bench-state.json")
    json.dump(state, open(state_path, "w"))
    print("%d runs in %d flows (%s), %s's foreach: %d tasks; module %s" % (
        state["runs_v3"], state["flows_v3"], "BigFlow: 10,000 runs" if state["runs_v3"] > 40000 else "small",
        state["foreach_run"], state["foreach_width"], os.environ["MFSQL_MODULE"]))
    head = "%-50s %6s %8s %11s %6s %9s %7s | %6s %10s %9s %7s %7s" % (
        "question", "rows", "requests", "bytes", "files", "wall ms", "RSS MiB", "floor", "bytes", "floor ms",
        "x req", "x time")
    print(head)
    print("-" * len(head))
    for name, (sql, floor_targets) in questions(state).items():
        if a.only and not any(o in name for o in a.only.split(",")):
            continue
        results = [run_child(state_path, sql, a.timeout, a.memory_gib) for _ in range(a.repeat)]
        targets, files = floor_targets(get), []
        if isinstance(targets, tuple):
            targets, files = targets
        if "value" in sql:
            files = blobs_of(state, targets[0], None if "pathspec" in sql else "square")
        f_ms, f_bytes = floor(state, targets, files, a.repeat)
        done = [r for r, _ in results if r]
        if not done:
            print("%-50s %s | %6d %10d %9.1f" % (name, results[0][1].ljust(58), len(targets), f_bytes, f_ms), flush=True)
            continue
        best = min(done, key=lambda r: r["ms"])
        print("%-50s %6d %8d %11d %6d %9.1f %7.1f | %6d %10d %9.1f %7.1f %7.1f" % (
            name, best["rows"], best["requests"], best["bytes"], best["files"], best["ms"],
            max(r["rss_mib"] for r in done), len(targets), f_bytes, f_ms, best["requests"] / len(targets),
            best["ms"] / f_ms), flush=True)


if __name__ == "__main__":
    main()
