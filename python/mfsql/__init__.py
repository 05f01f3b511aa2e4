"""mfsql: Metaflow's store as SQL tables, in Python's sqlite3, pandas and notebooks.

    import mfsql
    conn = mfsql.connect(root="/path/to/project")        # a sqlite3.Connection with the tables
    conn.execute("SELECT flow, latest_run FROM flows").fetchall()
    df = mfsql.query("SELECT run_id, tags, finished_at FROM runs WHERE flow = ?", ("TrainFlow",))

    mfsql.load(existing_conn)   # load the extension into your own sqlite3.Connection
    mfsql.path()                # the extension's file, for other tools (sqlite3 shell, ODBC, ...)

In a notebook: `%load_ext mfsql`, then a cell starting with `%%mfsql` returns a DataFrame.
"""
import datetime as _dt
import json as _json
import os as _os
import sqlite3 as _sqlite3
import threading as _threading

__all__ = ["path", "load", "connect", "query", "ExtensionLoadingUnavailable", "load_ipython_extension"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("mfsql")
except Exception:  # not installed as a distribution (e.g. run from a source tree)
    __version__ = "unknown"

_MODULE_FILE = "metaflow.so"
# Column names of mfsql's times (TEXT, ISO 8601 UTC such as 2026-11-27T00:09:11.091Z).
_TIME_NAMES = ("created_at", "finished_at", "ts")
_STORE_ARGUMENTS = ("root", "service", "datastore", "profile")


class ExtensionLoadingUnavailable(RuntimeError):
    """This Python's sqlite3 module was built without support for loadable extensions."""


def path():
    """The path of the SQLite extension inside this package (metaflow.so).

    For other tools: `sqlite3` then `.load <path without .so>`, sqlite-utils --load-extension,
    an ODBC DSN's LoadExt, ...
    """
    return _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), _MODULE_FILE)


def _unavailable_message():
    import sys

    return (
        "This Python (%s, %s) cannot load SQLite extensions: its sqlite3 module was built without "
        "them (sqlite3.Connection has no enable_load_extension), as pyenv's and macOS's system "
        "Python are by default. What works: Debian's/Ubuntu's /usr/bin/python3, or a virtualenv made "
        "from it (/usr/bin/python3 -m venv ...); or a Python built with "
        "--enable-loadable-sqlite-extensions (pyenv: PYTHON_CONFIGURE_OPTS="
        "--enable-loadable-sqlite-extensions pyenv install <version>)." % (sys.executable, sys.version.split()[0])
    )


def load(conn):
    """Loads the extension into an existing sqlite3.Connection, like sqlite_vec.load(conn).

    Extension loading is switched on for the load only and off again afterwards, so no SQL run
    later on the connection can load another one.
    """
    if not hasattr(conn, "enable_load_extension"):
        raise ExtensionLoadingUnavailable(_unavailable_message())
    module = path()
    if not _os.path.isfile(module):
        raise FileNotFoundError("mfsql's extension is missing from the package: %s" % module)
    conn.enable_load_extension(True)
    try:
        conn.load_extension(module)
    finally:
        conn.enable_load_extension(False)


def _literal(text):
    return "'" + str(text).replace("'", "''") + "'"


def _identifier(name):
    return '"' + name.replace('"', '""') + '"'


def connect(root=None, service=None, datastore=None, profile=None, database=":memory:", **kwargs):
    """A new sqlite3.Connection (to `database`, in memory by default) with mfsql's tables ready.

    Without arguments every table reads the store Metaflow's own configuration names
    (METAFLOW_DATASTORE_SYSROOT_LOCAL, METAFLOW_HOME / METAFLOW_PROFILE config files, ./.metaflow
    ...), as in the sqlite3 shell. With arguments, this connection alone reads the store they name:
      root       folder that contains .metaflow (or .metaflow itself): local metadata and datastore
      service    URL of a Metaflow metadata service
      datastore  s3://bucket/prefix, or a local datastore folder (with service=)
      profile    a Metaflow config profile (~/.metaflowconfig/config_<profile>.json)
    They become module arguments: for each mfsql table a temporary table of the same name,
    `CREATE VIRTUAL TABLE temp.runs USING runs(root='...')`, which unqualified names (`FROM runs`)
    find before the built-in table. Nothing is written to `database`, and the process environment
    is not changed, so connections to different stores can be open side by side.
    Other keyword arguments go to sqlite3.connect.
    """
    conn = _sqlite3.connect(database, **kwargs)
    try:
        load(conn)
        arguments = {"root": root, "service": service, "datastore": datastore, "profile": profile}
        given = ", ".join("%s=%s" % (k, _literal(_os.fspath(v))) for k, v in arguments.items() if v is not None)
        if given:
            tables = [name for (name,) in conn.execute("SELECT table_name FROM metaflow_tables")]
            for name in tables:
                conn.execute("CREATE VIRTUAL TABLE temp.%s USING %s(%s)" % (_identifier(name), _identifier(name), given))
    except BaseException:
        conn.close()
        raise
    return conn


_default = _threading.local()


def _default_connection():
    """One connection per thread for query() without conn= (a sqlite3 connection stays in its thread)."""
    conn = getattr(_default, "conn", None)
    if conn is None:
        conn = _default.conn = connect()
    return conn


def _parse_time(text):
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:  # mfsql writes UTC
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def _column_kinds(conn, sql, names):
    """'json', 'time' or None for each result column.

    JSON: the column's declared type is JSON (as metaflow_columns lists it), found by
    metaflow_column_types(sql), which follows the column through aliases and subqueries; an
    expression (json_extract(...), count(*)) is not decoded. Time: a TEXT column named created_at,
    finished_at or ts, mfsql's time columns.
    """
    try:
        (types,) = conn.execute("SELECT metaflow_column_types(?)", (sql,)).fetchone()
    except _sqlite3.OperationalError as e:
        if "no such function" in str(e):
            raise ValueError("this connection has no mfsql extension: mfsql.load(conn) loads it") from None
        raise
    types = _json.loads(types)
    kinds = []
    for name, declared in zip(names, types):
        declared = (declared or "").upper()
        if declared == "JSON":
            kinds.append("json")
        elif declared in ("DATETIME", "TIMESTAMP") or (declared == "TEXT" and name in _TIME_NAMES):
            kinds.append("time")
        else:
            kinds.append(None)
    return kinds


def _decode_column(values, kind):
    if kind == "json":
        return [_json.loads(v) if isinstance(v, str) else v for v in values]
    try:
        return [_parse_time(v) if isinstance(v, str) else v for v in values]
    except ValueError:  # not a time after all (an alias): leave the column as it is
        return values


def query(sql, params=(), conn=None):
    """Runs one statement and returns its rows as a pandas.DataFrame (a list of dicts without pandas).

    JSON columns (tags, value, exception, metadata, ...) come back decoded (lists, dicts, numbers),
    and time columns (created_at, finished_at, ts) as timezone-aware UTC datetimes (pandas:
    datetime64[ns, UTC]). NULL is None (NaN / NaT in pandas' numeric and time columns).
    `params` binds `?` (a sequence) or `:name` (a dict) parameters. Without `conn`, a connection of
    this thread made by connect() is used: the store Metaflow's configuration names.
    """
    if conn is None:
        conn = _default_connection()
    cursor = conn.execute(sql, params)
    try:
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    columns = list(zip(*rows)) if rows else [() for _ in names]
    kinds = _column_kinds(conn, sql, names) if names else []
    columns = [_decode_column(list(c), k) if k else list(c) for c, k in zip(columns, kinds)]
    try:
        import pandas as pd
    except ImportError:
        return [dict(zip(names, row)) for row in zip(*columns)] if rows else []
    frame = pd.DataFrame({i: c for i, c in enumerate(columns)}, columns=range(len(names)))
    for i, kind in enumerate(kinds):
        if kind == "time" and all(v is None or isinstance(v, _dt.datetime) for v in columns[i]):
            frame[i] = pd.to_datetime(frame[i], utc=True)
    frame.columns = names
    return frame


def load_ipython_extension(ipython):
    """`%load_ext mfsql`: registers the %%mfsql cell magic and the %mfsql line magic."""
    from ._magic import register

    register(ipython)
