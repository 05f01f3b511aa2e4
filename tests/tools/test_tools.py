"""mfsql from tools people already use, each checked against oracle.json: sqlite-utils (Debian's
command) and pyodbc through the SQLite ODBC driver (Debian's python3-pyodbc, libsqliteodbc,
unixodbc). Python's own sqlite3 module is tests/python/test_python.py (CTest python_client).

    MFSQL_MODULE=build/metaflow.so MFSQL_FIXTURE=../shared/fixtures/metaflow-local /usr/bin/python3 tests/tools/test_tools.py
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

MODULE = os.environ["MFSQL_MODULE"]
MODULE = MODULE if MODULE.endswith(".so") else MODULE + ".so"
FIXTURE = os.environ["MFSQL_FIXTURE"]
RUNS_SQL = ("SELECT flow, run_id, finished, successful, created_at, finished_at, user_tags, system_tags "
            "FROM runs ORDER BY flow, run_id")


def z(client_time):
    """The oracle's naive UTC isoformat as mfsql writes it: SQLite's form, cut to milliseconds."""
    return None if client_time is None else client_time[:23].replace("T", " ")


def oracle_runs():
    with open(os.path.join(FIXTURE, "oracle.json"), encoding="utf-8") as f:
        oracle = json.load(f)
    return sorted((flow["name"], r["id"], int(r["finished"]), int(r["successful"]), z(r["created_at"]),
                   z(r["finished_at"]), r["user_tags"], r["system_tags"])
                  for flow in oracle["flows"] for r in flow["runs"])


class Tools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="mfsql-tools.")
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = FIXTURE  # as a user's environment would say
        os.environ.pop("METAFLOW_PROFILE", None)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work)

    # sqlite-utils ---------------------------------------------------------------------------------
    def sqlite_utils(self, *args):
        exe = shutil.which("sqlite-utils")
        self.assertIsNotNone(exe, "sqlite-utils is not installed (apt-get install sqlite-utils)")
        return subprocess.run([exe, *args], capture_output=True, text=True, cwd=self.work)

    def test_sqlite_utils_memory_load_extension(self):
        run = self.sqlite_utils("memory", "--load-extension", MODULE, "--json-cols", RUNS_SQL)
        self.assertEqual(run.returncode, 0, run.stderr)
        got = [tuple(row.values()) for row in json.loads(run.stdout)]
        self.assertEqual(got, [tuple(r) for r in oracle_runs()])

    def test_sqlite_utils_query_and_csv(self):
        run = self.sqlite_utils("query", ":memory:", "--load-extension", MODULE, "--csv",
                                "SELECT flow, count(*) AS runs FROM runs GROUP BY flow ORDER BY flow")
        self.assertEqual(run.returncode, 0, run.stderr)
        counts = {}
        for flow, *_ in oracle_runs():
            counts[flow] = counts.get(flow, 0) + 1
        self.assertEqual(run.stdout.splitlines(), ["flow,runs"] + ["%s,%d" % kv for kv in sorted(counts.items())])

    def test_sqlite_utils_reports_errors(self):
        run = self.sqlite_utils("memory", "--load-extension", MODULE, "SELECT no_such_column FROM runs")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("no such column: no_such_column", run.stdout + run.stderr)

    # pyodbc ---------------------------------------------------------------------------------------
    def odbc(self):
        import pyodbc

        drivers = glob.glob("/usr/lib/*/odbc/libsqlite3odbc.so")
        self.assertTrue(drivers, "the SQLite ODBC driver is not installed (apt-get install libsqliteodbc unixodbc)")
        # A DSN-less connection: the driver opens Database as a file (mfsql writes nothing to it).
        return pyodbc.connect("DRIVER=%s;Database=%s;LoadExt=%s" % (drivers[0], os.path.join(self.work, "odbc.db"), MODULE),
                              autocommit=True)

    def test_pyodbc_runs(self):
        conn = self.odbc()
        rows = [tuple(r) for r in conn.cursor().execute(RUNS_SQL).fetchall()]
        got = [(f, r, fin, ok, c, at, json.loads(ut), json.loads(st)) for f, r, fin, ok, c, at, ut, st in rows]
        self.assertEqual(got, oracle_runs())
        conn.close()

    def test_pyodbc_types_of_each_declared_type(self):
        """What the driver reports for mfsql's declared types, and that the values are whole.

        TEXT -> str, INTEGER -> int, REAL -> float, JSON -> str, BLOB -> bytearray. The driver
        gives JSON and BLOB (type names it does not know) a display size of 255, but returns the
        whole value: the 829-character exception and the 5 MiB blob below come back complete.
        """
        import sqlite3

        conn = self.odbc()
        cur = conn.cursor()
        task = "TypesFlow/1795738061822006/transform/3"
        big = ("SELECT name, blob, size, value, created_at FROM artifacts WHERE flow = 'TypesFlow' "
               "AND run_id = '1795738056495569' AND step = 'end' AND name = 'big_blob'")
        ms = "SELECT ms FROM metaflow_trace LIMIT 1"
        expected_types = {"name": str, "blob": bytearray, "size": int, "value": str, "created_at": str}
        row = cur.execute(big).fetchone()
        self.assertEqual({d[0]: d[1] for d in cur.description}, expected_types)
        self.assertEqual({d[0]: d[3] for d in cur.description if d[0] in ("value", "blob")}, {"value": 255, "blob": 255})
        exception = cur.execute("SELECT exception FROM tasks WHERE pathspec = ?", task).fetchone()[0]
        self.assertIs(cur.description[0][1], str)
        self.assertIsNotNone(cur.execute(ms).fetchone())  # this connection's reads so far
        self.assertIs(cur.description[0][1], float)

        # The same statements through the sqlite3 module: ODBC's values are whole and equal.
        plain = sqlite3.connect(":memory:")
        plain.enable_load_extension(True)
        plain.load_extension(MODULE)
        plain_row = plain.execute(big).fetchone()
        self.assertEqual((row[0], bytes(row[1]), row[2], row[3], row[4]), plain_row)
        self.assertEqual(len(row[1]), row[2])  # 5242889 bytes, not 255
        plain_exception = plain.execute("SELECT exception FROM tasks WHERE pathspec = ?", (task,)).fetchone()[0]
        self.assertEqual(exception, plain_exception)
        self.assertGreater(len(exception), 255)
        self.assertEqual(json.loads(exception)["type"], json.loads(plain_exception)["type"])
        plain.close()
        conn.close()

    def test_pyodbc_parameters_and_errors(self):
        import pyodbc

        conn = self.odbc()
        cur = conn.cursor()
        (count,) = cur.execute("SELECT count(*) FROM runs WHERE flow = ?", "TypesFlow").fetchone()
        self.assertEqual(count, sum(1 for r in oracle_runs() if r[0] == "TypesFlow"))
        with self.assertRaises(pyodbc.Error) as caught:
            cur.execute("SELECT no_such_column FROM runs")
        self.assertIn("no such column", str(caught.exception))
        conn.close()


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
