"""The IPython magics: `%load_ext mfsql`, then

    %%mfsql
    SELECT run_id, status, tags FROM runs WHERE flow = :flow

returns the rows as a DataFrame (mfsql.query: JSON decoded, times as UTC datetimes). `:name`
parameters are bound from the notebook's variables (`flow` above). Options on the %%mfsql line:
`--root DIR`, `--service URL`, `--datastore URL`, `--profile NAME` pick the store (one connection is
kept per choice), `--conn NAME` uses the notebook's sqlite3.Connection NAME instead, and a bare name
at the end (`%%mfsql runs_df`) also stores the result in that variable. `%mfsql SELECT ...` is the
one-line form.
"""
import argparse
import re
import shlex

_connections = {}
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _parser():
    p = argparse.ArgumentParser(prog="%%mfsql", add_help=False)
    for option in ("--root", "--service", "--datastore", "--profile", "--conn"):
        p.add_argument(option)
    p.add_argument("target", nargs="?")
    return p


def _connection(options, user_ns):
    import mfsql

    if options.conn:
        if options.conn not in user_ns:
            raise NameError("%%mfsql --conn: no variable named " + options.conn)
        return user_ns[options.conn]
    key = (options.root, options.service, options.datastore, options.profile)
    conn = _connections.get(key)
    if conn is None:
        conn = _connections[key] = mfsql.connect(
            root=options.root, service=options.service, datastore=options.datastore, profile=options.profile)
    return conn


def _bound_names(sql, user_ns):
    """The notebook's values of the statement's :name parameters (names it lacks are left out,
    so SQLite reports them)."""
    return {name: user_ns[name] for name in set(_PARAMETER.findall(sql)) if name in user_ns}


def run(line, cell, user_ns):
    """What %%mfsql does, without IPython: the DataFrame for `cell` with the options in `line`."""
    import mfsql

    options = _parser().parse_args(shlex.split(line or ""))
    sql = (cell or "").strip()
    if not sql:
        raise ValueError("%%mfsql: the cell has no SQL")
    conn = _connection(options, user_ns)
    params = _bound_names(sql, user_ns)
    result = mfsql.query(sql, params if params else (), conn=conn)
    if options.target:
        user_ns[options.target] = result
    return result


def register(ipython):
    def mfsql_magic(line, cell=None):
        if cell is None:  # %mfsql SELECT ...: options cannot be mixed with one-line SQL
            return run("", line, ipython.user_ns)
        return run(line, cell, ipython.user_ns)

    ipython.register_magic_function(mfsql_magic, magic_kind="line_cell", magic_name="mfsql")
