"""Metaflow's own client on one of mfsql-bench-repeat's questions (bench/repeat_bench.cpp).

    PYTHONPATH=<metaflow source tree> python3 client_bench.py STORE QUESTION PATHSPEC REPEAT

Runs the question once (the first call: imports are done, nothing is cached), then REPEAT more
times in the same process, each with new client objects (as a notebook cell run again would);
then REPEAT more, each also with a new FileCache (the client's in-memory caches of datastores and
blobs dropped, its on-disk cache kept: a new process but for the imports). Prints
"first_ms best_ms median_ms new_cache_best_ms new_cache_median_ms peak_rss_kib rows". Offline: the
local metadata provider and datastore, a private METAFLOW_HOME and client cache, deleted at the end.
"""

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time


def main():
    store, question, pathspec, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    private = tempfile.mkdtemp(prefix="mfsql-client-bench-")
    os.environ.update(
        {
            "METAFLOW_HOME": private,
            "METAFLOW_CLIENT_CACHE_PATH": os.path.join(private, "client-cache"),
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": store,
            "USERNAME": "bench",
        }
    )
    try:
        from metaflow import Flow, Run, Step, namespace
        import metaflow.client.core as client_core

        namespace(None)

        def runs():
            return [(r.id, r.successful, r.finished_at, r.tags) for r in Flow(pathspec)]

        def artifact():
            step, name = pathspec.rsplit("/", 1)
            return [(t.id, t[name].data) for t in Step(step)]

        def tasks():
            return [(s.id, t.id, t.successful, t.finished_at) for s in Run(pathspec) for t in s]

        ask = {"runs": runs, "artifact": artifact, "tasks": tasks}[question]
        times = []
        rows = 0
        for _ in range(repeat + 1):
            start = time.perf_counter()
            rows = len(ask())
            times.append((time.perf_counter() - start) * 1e3)
        fresh = []
        for _ in range(repeat):
            client_core.filecache = None  # the next call makes a new FileCache
            start = time.perf_counter()
            ask()
            fresh.append((time.perf_counter() - start) * 1e3)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rest = times[1:]
        print(
            "%.3f %.3f %.3f %.3f %.3f %d %d"
            % (times[0], min(rest), statistics.median(rest), min(fresh), statistics.median(fresh), rss, rows)
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)


if __name__ == "__main__":
    main()
