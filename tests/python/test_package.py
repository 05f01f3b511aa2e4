"""The installed `mfsql` Python package (tests/python/test_package.sh installs it into a fresh
virtualenv and runs this with the virtualenv's python), checked against oracle.json.

    MFSQL_FIXTURE=... MFSQL_VENV=... MFSQL_WHEEL_DIR=... venv/bin/python tests/python/test_package.py
"""
import datetime as dt
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import zipfile

FIXTURE = os.environ["MFSQL_FIXTURE"]
VENV = os.environ["MFSQL_VENV"]
WHEELS = os.environ["MFSQL_WHEEL_DIR"]
UTC = dt.timezone.utc

import mfsql  # noqa: E402  (the installed package)


def oracle():
    with open(os.path.join(FIXTURE, "oracle.json"), encoding="utf-8") as f:
        return json.load(f)


ORACLE = oracle()
RUNS = [(f["name"], r) for f in ORACLE["flows"] for r in f["runs"]]


def utc(client_time):
    """The oracle's naive UTC time (microseconds) as mfsql gives it: milliseconds, UTC."""
    if client_time is None:
        return None
    t = dt.datetime.fromisoformat(client_time).replace(tzinfo=UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def oracle_runs(flows=None):
    return sorted(
        (name, r["id"], bool(r["finished"]), bool(r["successful"]), utc(r["created_at"]), utc(r["finished_at"]),
         r["user_tags"], r["system_tags"])
        for name, r in RUNS if flows is None or name in flows)


RUNS_SQL = ("SELECT flow, run_id, finished, successful, created_at, finished_at, user_tags, system_tags "
            "FROM runs ORDER BY flow, run_id")


def rows_of(frame):
    """DataFrame rows as plain Python values (Timestamps as datetimes, NaT as None)."""
    import pandas as pd

    out = []
    for row in frame.itertuples(index=False):
        out.append(tuple(None if v is pd.NaT else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row))
    return out


def normalized(rows):
    return [(f, r, bool(fin), bool(ok), c, at, ut, st) for f, r, fin, ok, c, at, ut, st in rows]


class InstalledPackage(unittest.TestCase):
    def setUp(self):
        # Where a user's environment would point; each test says which store it expects.
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = FIXTURE
        for name in ("METAFLOW_PROFILE", "METAFLOW_DEFAULT_METADATA", "METAFLOW_SERVICE_URL"):
            os.environ.pop(name, None)

    def test_installed_into_the_virtualenv_with_the_module_inside(self):
        self.assertTrue(os.path.realpath(mfsql.__file__).startswith(os.path.realpath(VENV)), mfsql.__file__)
        self.assertEqual(os.path.basename(mfsql.path()), "metaflow.so")
        self.assertEqual(os.path.dirname(mfsql.path()), os.path.dirname(os.path.abspath(mfsql.__file__)))
        self.assertTrue(os.path.isfile(mfsql.path()))
        self.assertEqual(mfsql.__version__, mfsql.connect().execute("SELECT metaflow_version()").fetchone()[0].split()[1].rstrip(","))

    def test_the_wheel(self):
        (wheel,) = glob.glob(os.path.join(WHEELS, "mfsql-*.whl"))
        self.assertRegex(os.path.basename(wheel), r"^mfsql-%s-py3-none-linux_x86_64\.whl$" % mfsql.__version__)
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            self.assertIn("mfsql/metaflow.so", names)
            self.assertIn("mfsql/__init__.py", names)
            self.assertIn("mfsql/_magic.py", names)
            metadata = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
            self.assertIn("Root-Is-Purelib: false", metadata)

    def test_load_into_an_existing_connection(self):
        conn = sqlite3.connect(":memory:")
        mfsql.load(conn)
        # Plain sqlite3: times are mfsql's text (milliseconds, Z) and JSON is text.
        got = [(f, r, bool(fin), bool(ok), c, at, json.loads(ut), json.loads(st))
               for f, r, fin, ok, c, at, ut, st in conn.execute(RUNS_SQL)]
        z = lambda t: None if t is None else t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        self.assertEqual(got, [(f, r, fin, ok, z(c), z(at), ut, st) for f, r, fin, ok, c, at, ut, st in oracle_runs()])
        with self.assertRaises(sqlite3.OperationalError):  # loading was switched off again
            conn.execute("SELECT load_extension('x')").fetchall()

    def test_query_decodes_json_and_times(self):
        frame = mfsql.query(RUNS_SQL)
        self.assertEqual(str(frame["finished_at"].dtype), "datetime64[ns, UTC]")
        self.assertEqual(str(frame["created_at"].dtype), "datetime64[ns, UTC]")
        self.assertEqual(normalized(rows_of(frame)), oracle_runs())

    def test_query_with_parameters_and_artifact_values(self):
        run = next(r for name, r in RUNS if r["id"] == "1795738056495569")
        end = next(s for s in run["steps"] if s["pathspec"].endswith("/end"))
        expected = end["tasks"][0]["artifacts"]
        frame = mfsql.query("SELECT name, value, a.value AS also_value, json_extract(value, '$') AS expression, size "
                            "FROM artifacts a WHERE flow = ? AND run_id = ? AND step = 'end' ORDER BY name",
                            ("TypesFlow", run["id"]))
        self.assertEqual(sorted(frame["name"]), sorted(expected))
        compared = 0
        for row in frame.itertuples(index=False):
            if isinstance(expected[row.name]["value"], dict) and "$omitted" in expected[row.name]["value"]:
                continue  # too big for the oracle to write out
            compared += 1
            self.assertEqual(row.value, expected[row.name]["value"], row.name)   # JSON decoded
            self.assertEqual(row.also_value, row.value, row.name)               # through an alias
            self.assertEqual(row.size, expected[row.name]["size"], row.name)
        self.assertGreaterEqual(compared, 10)
        config = frame[frame["name"] == "config"].iloc[0]
        self.assertIsInstance(config["value"], dict)
        self.assertIsInstance(config["expression"], str)  # an expression is not a JSON column: left as text
        named = mfsql.query("SELECT count(*) AS n FROM runs WHERE flow = :flow", {"flow": "TypesFlow"})
        self.assertEqual(int(named["n"][0]), sum(1 for name, _ in RUNS if name == "TypesFlow"))

    def test_text_columns_named_value_stay_text(self):
        frame = mfsql.query("SELECT field_name, value FROM metadata WHERE flow = 'TypesFlow' "
                            "AND run_id = '1795738056495569' AND step = 'end' AND field_name = 'attempt'")
        self.assertEqual(list(frame["value"]), ["0"])  # metadata.value is TEXT: not json-decoded to 0

    def test_connect_root_shadows_the_eponymous_tables(self):
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = "/nonexistent/store"
        conn = mfsql.connect(root=FIXTURE)
        self.assertEqual(normalized(rows_of(mfsql.query(RUNS_SQL, conn=conn))), oracle_runs())
        # Unqualified names are the temp tables; the built-in ones still read the environment's store.
        (schema,) = conn.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'table'").fetchone()
        self.assertEqual(schema, conn.execute("SELECT count(*) FROM metaflow_tables").fetchone()[0])
        with self.assertRaisesRegex(sqlite3.OperationalError, "runs: .*no Metaflow store at /nonexistent/store"):
            conn.execute("SELECT count(*) FROM main.runs").fetchall()
        (value,) = conn.execute("SELECT value FROM metaflow_config WHERE name = 'METAFLOW_DATASTORE_SYSROOT_LOCAL'").fetchone()
        self.assertEqual(value, FIXTURE)
        # A join of shadowed tables, as in the README.
        tags = conn.execute("SELECT count(*) FROM runs r JOIN tags t USING (flow, run_id) WHERE t.system = 0").fetchone()[0]
        self.assertEqual(tags, sum(len(r["user_tags"]) for _, r in RUNS))

    def test_connections_to_different_stores_side_by_side(self):
        other = tempfile.mkdtemp()
        try:
            shutil.copytree(os.path.join(FIXTURE, ".metaflow", "EndpointsFlow"),
                            os.path.join(other, ".metaflow", "EndpointsFlow"), symlinks=True)
            a, b = mfsql.connect(root=FIXTURE), mfsql.connect(root=other)
            self.assertEqual(normalized(rows_of(mfsql.query(RUNS_SQL, conn=b))), oracle_runs({"EndpointsFlow"}))
            self.assertEqual(normalized(rows_of(mfsql.query(RUNS_SQL, conn=a))), oracle_runs())
            b.close()
            a.close()
        finally:
            shutil.rmtree(other)

    def test_query_without_pandas_gives_dicts(self):
        code = ("import sys, json; sys.modules['pandas'] = None\n"
                "import mfsql\n"
                "rows = mfsql.query(%r)\n"
                "assert isinstance(rows, list) and isinstance(rows[0], dict), rows[:1]\n"
                "print(json.dumps([[r[k].isoformat() if hasattr(r[k], 'isoformat') else r[k] for k in r] for r in rows]))\n"
                % RUNS_SQL)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        got = [(f, r, bool(fin), bool(ok), None if c is None else dt.datetime.fromisoformat(c),
                None if at is None else dt.datetime.fromisoformat(at), ut, st)
               for f, r, fin, ok, c, at, ut, st in json.loads(out)]
        self.assertEqual(got, oracle_runs())
        self.assertTrue(all(c.tzinfo == UTC for _, _, _, _, c, _, _, _ in got))

    def test_a_python_that_cannot_load_extensions_is_told_what_works(self):
        class NoExtensions:  # what sqlite3.connect returns in such a Python
            pass

        with self.assertRaises(mfsql.ExtensionLoadingUnavailable) as caught:
            mfsql.load(NoExtensions())
        for words in ("cannot load SQLite extensions", "/usr/bin/python3", "virtualenv",
                      "--enable-loadable-sqlite-extensions"):
            self.assertIn(words, str(caught.exception))

    def test_a_real_python_without_extension_loading(self):
        """Every Python 3 on PATH that lacks enable_load_extension (pyenv's, here) gets the error."""
        site = os.path.dirname(os.path.dirname(os.path.abspath(mfsql.__file__)))
        probe = "import sqlite3; print(hasattr(sqlite3.Connection, 'enable_load_extension'))"
        tried = 0
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            exe = os.path.join(folder, "python3")
            if not os.access(exe, os.X_OK) or os.path.realpath(exe) == os.path.realpath(sys.executable):
                continue
            check = subprocess.run([exe, "-c", probe], capture_output=True, text=True)
            if check.stdout.strip() != "False":
                continue
            env = dict(os.environ, PYTHONPATH=site)
            run = subprocess.run([exe, "-c", "import mfsql; mfsql.connect()"], capture_output=True, text=True, env=env)
            self.assertNotEqual(run.returncode, 0)
            self.assertIn("mfsql.ExtensionLoadingUnavailable", run.stderr)
            self.assertIn("/usr/bin/python3", run.stderr)
            tried += 1
        print("\n  (%d Python(s) on PATH without extension loading checked)" % tried, file=sys.stderr)

    def test_ipython_magic(self):
        from IPython.core.interactiveshell import InteractiveShell

        ip = InteractiveShell.instance()
        ip.run_line_magic("colors", "NoColor")  # readable tracebacks in the test log
        ip.run_line_magic("load_ext", "mfsql")
        ip.user_ns["flow"] = "TypesFlow"
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = "/nonexistent/store"  # --root is what counts
        cell = ("SELECT flow, run_id, finished, successful, created_at, finished_at, user_tags, system_tags\n"
                "FROM runs WHERE flow = :flow ORDER BY flow, run_id")
        result = ip.run_cell("%%%%mfsql --root '%s' typesflow_runs\n%s" % (FIXTURE, cell))
        self.assertTrue(result.success, result.error_in_exec)
        self.assertEqual(normalized(rows_of(result.result)), oracle_runs({"TypesFlow"}))
        self.assertIs(ip.user_ns["typesflow_runs"], result.result)
        os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = FIXTURE
        line = ip.run_cell("%mfsql SELECT count(*) AS n FROM flows")
        self.assertTrue(line.success, line.error_in_exec)
        self.assertEqual(int(line.result["n"][0]), len(ORACLE["flows"]))
        failed = ip.run_cell("%%mfsql\nSELECT no_such_column FROM runs")
        self.assertIsInstance(failed.error_in_exec, sqlite3.OperationalError)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
