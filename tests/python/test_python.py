"""mfsql from Python: the standard sqlite3 module and pandas.read_sql, checked against oracle.json.

Run with Debian's interpreter (its sqlite3 module can load extensions):
    MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local /usr/bin/python3 tests/python/test_python.py
"""
import json
import os
import pickle
import sqlite3
import sys
import unittest

MODULE = os.environ.get("MFSQL_MODULE", "")
FIXTURE = os.environ.get("MFSQL_FIXTURE", "")


def column_time(client_time):
    """The oracle's naive UTC isoformat as mfsql writes it: SQLite's form, cut to milliseconds."""
    return None if client_time is None else client_time[:23].replace("T", " ")


def load_oracle():
    with open(os.path.join(FIXTURE, "oracle.json"), encoding="utf-8") as f:
        return json.load(f)


def connect():
    conn = sqlite3.connect(":memory:")
    if not hasattr(conn, "enable_load_extension"):
        raise unittest.SkipTest(
            "this Python's sqlite3 module was built without loadable extensions; use Debian's "
            "/usr/bin/python3 or rebuild Python with --enable-loadable-sqlite-extensions")
    conn.enable_load_extension(True)
    conn.load_extension(MODULE)
    conn.enable_load_extension(False)  # the module is in; no SQL may load another
    return conn


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MODULE or not FIXTURE:
            raise RuntimeError("set MFSQL_MODULE (the built metaflow.so) and MFSQL_FIXTURE (the public fixture)")
        # The eponymous tables read the store Metaflow's configuration names, as in a user's project.
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = FIXTURE
        os.environ.pop("METAFLOW_PROFILE", None)
        cls.oracle = load_oracle()
        cls.conn = connect()

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def oracle_runs(self):
        for flow in self.oracle["flows"]:
            for run in flow["runs"]:
                yield flow["name"], run

    def test_flows_match_the_client(self):
        rows = self.conn.execute(
            "SELECT flow, latest_run, latest_successful_run FROM flows ORDER BY flow").fetchall()
        expected = [(f["name"], f["latest_run"], f["latest_successful_run"]) for f in self.oracle["flows"]]
        self.assertEqual(rows, sorted(expected))

    def test_runs_match_the_client(self):
        rows = self.conn.execute(
            "SELECT flow, run_id, created_at, finished, successful, finished_at, user_tags, system_tags "
            "FROM runs ORDER BY flow, run_id").fetchall()
        got = [(f, r, c, fin, ok, at, json.loads(ut), json.loads(st)) for f, r, c, fin, ok, at, ut, st in rows]
        expected = sorted(
            (name, run["id"], column_time(run["created_at"]), int(run["finished"]), int(run["successful"]),
             column_time(run["finished_at"]), run["user_tags"], run["system_tags"])
            for name, run in self.oracle_runs())
        self.assertEqual(got, expected)

    def test_tasks_match_the_client_with_bound_parameters(self):
        for name, run in self.oracle_runs():
            rows = self.conn.execute(
                "SELECT step, task_id, attempt, finished, successful, foreach_index FROM tasks "
                "WHERE flow = ? AND run_id = ? ORDER BY step, task_id", (name, run["id"])).fetchall()
            expected = sorted(
                (step["pathspec"].split("/")[-1], task["id"], task["attempt"], int(task["finished"]),
                 int(task["successful"]), task["index"])
                for step in run["steps"] for task in step["tasks"])
            self.assertEqual(rows, expected, run["pathspec"])

    def test_artifact_values_and_blobs(self):
        run = next(r for name, r in self.oracle_runs() if r["id"] == "1795738056495569")
        end = next(s for s in run["steps"] if s["pathspec"].endswith("/end"))
        oracle_artifacts = end["tasks"][0]["artifacts"]
        for name in ("alpha", "label", "config", "ratio", "list_val", "float_val"):
            value, blob, size = self.conn.execute(
                "SELECT value, blob, size FROM artifacts WHERE flow = 'TypesFlow' AND run_id = ? "
                "AND step = 'end' AND name = ?", (run["id"], name)).fetchone()
            self.assertEqual(json.loads(value), oracle_artifacts[name]["value"], name)
            self.assertEqual(size, oracle_artifacts[name]["size"], name)
            # blob is the pickle itself: plain values come back as Python objects.
            self.assertEqual(json.loads(json.dumps(pickle.loads(blob))), oracle_artifacts[name]["value"], name)

    def test_pandas_read_sql(self):
        import pandas as pd
        df = pd.read_sql(
            "SELECT flow, count(*) AS runs, sum(successful) AS successful FROM runs GROUP BY flow ORDER BY flow",
            self.conn)
        self.assertEqual(list(df.columns), ["flow", "runs", "successful"])
        expected = {f["name"]: (len(f["runs"]), sum(r["successful"] for r in f["runs"])) for f in self.oracle["flows"]}
        self.assertEqual({row.flow: (row.runs, row.successful) for row in df.itertuples()}, expected)

    def test_pandas_parse_dates_gives_the_clients_times(self):
        """Times are naive UTC text: parse_dates gives datetime64[ns] of the client's instants
        (cut to milliseconds); {"utc": True} makes them tz-aware."""
        import pandas as pd
        run = next(r for name, r in self.oracle_runs() if r["id"] == "1795738098817315")
        expected = {s["pathspec"].split("/")[-1]: (s["created_at"], s["finished_at"]) for s in run["steps"]}
        steps = pd.read_sql(
            "SELECT step, created_at, finished_at FROM steps WHERE flow = ? AND run_id = ?", self.conn,
            params=("BranchForeachFlow", run["id"]), parse_dates=["created_at", "finished_at"])
        self.assertEqual(len(steps), len(expected))
        self.assertEqual(str(steps["created_at"].dtype), "datetime64[ns]")
        self.assertEqual(str(steps["finished_at"].dtype), "datetime64[ns]")
        for row in steps.itertuples():
            created, finished = expected[row.step]
            self.assertEqual(row.created_at, pd.Timestamp(created).floor("ms"), row.step)
            self.assertEqual(row.finished_at, pd.Timestamp(finished).floor("ms"), row.step)
        utc = pd.read_sql("SELECT created_at FROM runs", self.conn, parse_dates={"created_at": {"utc": True}})
        self.assertEqual(str(utc["created_at"].dtype), "datetime64[ns, UTC]")
        self.assertEqual(sorted(utc["created_at"]), sorted(
            pd.Timestamp(r["created_at"], tz="UTC").floor("ms") for _, r in self.oracle_runs()))
        # Declared TEXT: PARSE_DECLTYPES converts nothing, the text comes back as it is.
        typed = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
        typed.enable_load_extension(True)
        typed.load_extension(MODULE)
        (created,) = typed.execute("SELECT created_at FROM runs WHERE run_id = ?", (run["id"],)).fetchone()
        typed.close()
        self.assertEqual(created, column_time(run["created_at"]))

    def test_readme_python_snippet_runs_against_the_sample_store(self):
        """The README's ```python block, with this build's module and the sample store."""
        import subprocess
        import tempfile
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "README.md"), encoding="utf-8") as f:
            readme = f.read()
        blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
        plain = [b for b in blocks if "conn.load_extension(" in b]
        self.assertEqual(len(plain), 1, "one README block loads the module into plain sqlite3")
        snippet = plain[0]
        self.assertIn('"/usr/lib/mfsql/metaflow"', snippet)
        snippet = snippet.replace('"/usr/lib/mfsql/metaflow"', repr(MODULE))
        storegen = os.path.join(os.path.dirname(os.path.abspath(MODULE)), "mfsql-storegen")
        with tempfile.TemporaryDirectory() as sample:
            subprocess.run([storegen, "--sample", "--out", sample], check=True, stdout=subprocess.DEVNULL)
            saved = os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"]
            os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = sample
            try:
                scope = {}
                exec(compile(snippet, "README.md", "exec"), scope)
            finally:
                os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = saved
                if "conn" in scope:
                    scope["conn"].close()
        runs = scope["runs"]
        self.assertGreater(len(runs), 0)
        self.assertEqual(str(runs["created_at"].dtype), "datetime64[ns, UTC]")

    def test_another_store_by_module_argument(self):
        root = FIXTURE.replace("'", "''")
        self.conn.execute(f"CREATE VIRTUAL TABLE temp.fixture_runs USING runs(root='{root}')")
        (count,) = self.conn.execute("SELECT count(*) FROM temp.fixture_runs").fetchone()
        self.assertEqual(count, sum(1 for _ in self.oracle_runs()))

    def test_errors_are_python_exceptions(self):
        with self.assertRaises(sqlite3.OperationalError):
            self.conn.execute("SELECT no_such_column FROM runs").fetchall()


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
