#!/usr/bin/python3
"""Writes the pickles that tests/pandas_pickle_test.cpp decodes, and their expected JSON.

Run with Debian's python3 + python3-pandas/python3-numpy (pandas 1.5, numpy 1.24):

    /usr/bin/python3 tests/pickles/make_pickles.py

Each case is pickled with several protocols as tests/pickles/<case>.p<N>.pkl; expected.json holds,
for every case, the JSON that ../shared/tools/render_reference.py (the oracle's rules as code)
prints for the value, and its python_type (type(v).__module__ + "." + type(v).__qualname__).
Where the oracle's rules fall through to $object/$repr (a standalone Series, Index or
Categorical; pd.NA), the renderings ../shared/docs/tables.md names are used instead:
  Series   -> {"$series": {"name", "index": [...], "data": [...], "dtype"}}
  Index    -> {"$index": {"name", "data": [...], "dtype"}}
  Categorical -> its values as their categories (a missing one as null)
  pd.NA, and pd.NaT/None in a Series, Index or Categorical -> null
A few values cannot be rebuilt from the pickle alone (Python >= 3.11 pickles an Enum member by
name, without its value): their "decoded" entry holds the decoder's documented rendering, and
"value" still holds the oracle's.
"""
import datetime
import decimal
import enum
import json
import os
import pickle
import sys
import types

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("MFSQL_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "tools"))
import render_reference as rr  # noqa: E402

# ---- classes that live in a named module, so pickles name "module.Qualname" ----
shop = types.ModuleType("shop")
models = types.ModuleType("shop.models")
shop.models = models
sys.modules["shop"] = shop
sys.modules["shop.models"] = models


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Outer:
    class Inner:
        def __init__(self):
            self.x = 1


for cls in (Color, Outer):
    cls.__module__ = "shop.models"
    setattr(models, cls.__name__, cls)
Outer.Inner.__module__ = "shop.models"

# ---- the renderings tables.md adds where the oracle's rules fall through ----
_oracle_render = rr.render


def _is_missing(x):
    return x is None or x is pd.NA or x is pd.NaT


def _cell(x, depth):
    """A cell of a Series, Index or Categorical (tables.md: NA/NaT/None as null)."""
    if _is_missing(x):
        return None
    return render(x, depth + 1)


def _categorical_values(cat, depth):
    cats = list(cat.categories)
    return [None if code < 0 else render(cats[code], depth + 1) for code in cat.codes]


def _series_data(s, depth):
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _categorical_values(s.array, depth)
    return [_cell(x, depth) for x in s.tolist()]


def _index_data(idx, depth):
    if isinstance(idx, pd.CategoricalIndex):
        return _categorical_values(idx.array, depth)
    return [_cell(x, depth) for x in idx.tolist()]


def render(v, depth=0):
    special = None
    if v is pd.NA:
        special = None
    elif isinstance(v, pd.Series):
        special = {"$series": {"name": render(v.name, depth + 1), "index": _index_data(v.index, depth),
                               "data": _series_data(v, depth), "dtype": str(v.dtype)}}
    elif isinstance(v, pd.Index):
        special = {"$index": {"name": render(v.name, depth + 1), "data": _index_data(v, depth), "dtype": str(v.dtype)}}
    elif isinstance(v, pd.Categorical):
        special = _categorical_values(v, depth)
    else:
        return _oracle_render(v, depth)
    # Only where the oracle's own rules give no rendering of their own.
    plain = _oracle_render(v, depth)
    assert isinstance(plain, dict) and ("$object" in plain or "$repr" in plain), (repr(v), plain)
    return special


rr.render = render  # the oracle's recursion now goes through the additions above

# ---- the cases ----
utc = datetime.timezone.utc
ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
times = pd.to_datetime(["2024-01-01 00:00:00", "2024-02-29 13:45:30.123456789", None])


def frame_cases():
    n = 3
    yield "df_int", pd.DataFrame({"a": [1, -2, 3], "b": np.array([1, 2, 3], dtype="int32"),
                                  "u": np.array([0, 255, 7], dtype="uint8")})
    yield "df_float", pd.DataFrame({"f": [1.5, float("nan"), -0.0], "g": np.array([0.1, 2, 3], dtype="float32")})
    yield "df_bool", pd.DataFrame({"b": [True, False, True]})
    yield "df_object", pd.DataFrame({"o": ["x", None, 3], "s": ["a", "b", "c"]})
    yield "df_datetime", pd.DataFrame({"t": times})
    yield "df_datetime_utc", pd.DataFrame({"t": times.tz_localize("UTC")})
    yield "df_datetime_offset", pd.DataFrame({"t": times.tz_localize("UTC").tz_convert(ist)})
    yield "df_timedelta", pd.DataFrame({"d": pd.to_timedelta([1, -1, None], unit="ns") + pd.Timedelta("1 days 00:00:01.5")})
    yield "df_timedelta_neg", pd.DataFrame({"d": pd.to_timedelta([-1, 1500, 0], unit="ns")})
    yield "df_category", pd.DataFrame({"c": pd.Categorical(["a", "b", None], categories=["b", "a"]),
                                       "k": pd.Categorical([1, 2, 1], ordered=True)})
    yield "df_nullable", pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"),
                                       "b": pd.array([True, None, False], dtype="boolean"),
                                       "s": pd.array(["x", None, "z"], dtype="string"),
                                       "f": pd.array([0.5, None, 2], dtype="Float64"),
                                       "u": pd.array([1, 2, None], dtype="UInt8")})
    yield "df_mixed", pd.DataFrame({"i": [1, 2, 3], "f": [0.5, 1.5, 2.5], "s": ["x", "y", "z"], "b": [True, False, True],
                                    "i2": [4, 5, 6], "t": times})
    yield "df_empty", pd.DataFrame()
    yield "df_no_rows", pd.DataFrame({"a": pd.Series([], dtype="int64"), "t": pd.Series([], dtype="datetime64[ns]")})
    yield "df_index_str", pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["r1", "r2"], name="row"))
    yield "df_index_int", pd.DataFrame({"v": [1, 2]}, index=[10, 20])
    yield "df_index_float", pd.DataFrame({"v": [1, 2]}, index=[0.5, 1.5])
    yield "df_index_range_step", pd.DataFrame({"v": [1, 2, 3]}, index=pd.RangeIndex(10, 4, -2))
    yield "df_index_datetime", pd.DataFrame({"v": [1, 2, 3]}, index=pd.DatetimeIndex(times, name="when"))
    yield "df_index_datetime_utc", pd.DataFrame({"v": [1, 2]}, index=pd.date_range("2024-01-01", periods=2, freq="H", tz="UTC"))
    yield "df_index_multi", pd.DataFrame({"v": [1, 2, 3]},
                                         index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2), ("a", 3)], names=["k", "n"]))
    yield "df_columns_multi", pd.DataFrame([[1, 2.5], [3, 4.5]],
                                           columns=pd.MultiIndex.from_tuples([("x", "i"), ("y", "f")]))
    yield "df_columns_int", pd.DataFrame([[1, 2], [3, 4]], columns=[7, 8])
    yield "df_index_category", pd.DataFrame({"v": [1, 2]}, index=pd.CategoricalIndex(["p", "q"]))
    yield "df_fortran", pd.DataFrame(np.asfortranarray(np.arange(6, dtype="int64").reshape(3, 2)), columns=["a", "b"])
    yield "df_many_blocks", pd.concat([pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"b": [3.5, 4.5]}),
                                        pd.DataFrame({"c": [5, 6]})], axis=1)


def series_cases():
    yield "series_int", pd.Series([1, 2, 3], name="x")
    yield "series_float", pd.Series([0.5, float("nan")], index=["a", "b"])
    yield "series_bool", pd.Series([True, False])
    yield "series_object", pd.Series(["a", None, 2.5])
    yield "series_datetime", pd.Series(times, name="t")
    yield "series_datetime_utc", pd.Series(times.tz_localize("UTC"))
    yield "series_timedelta", pd.Series(pd.to_timedelta([1, None], unit="s"))
    yield "series_category", pd.Series(pd.Categorical(["a", None, "b"]))
    yield "series_int64_na", pd.Series(pd.array([1, None], dtype="Int64"))
    yield "series_boolean_na", pd.Series(pd.array([None, True], dtype="boolean"))
    yield "series_string_na", pd.Series(pd.array(["s", None], dtype="string"), name="txt")
    yield "series_datetime_index", pd.Series([1.0, 2.0], index=pd.date_range("2024-03-01", periods=2, freq="D"))
    yield "series_multi_index", pd.Series([1, 2], index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))


def index_cases():
    yield "index_str", pd.Index(["a", "b"], name="letters")
    yield "index_int", pd.Index([3, 1, 2])
    yield "index_float", pd.Index([0.5, 2.0])
    yield "index_range", pd.RangeIndex(0, 6, 2, name="r")
    yield "index_datetime", pd.DatetimeIndex(times, name="d")
    yield "index_datetime_utc", pd.date_range("2024-01-01", periods=2, freq="D", tz="UTC")
    yield "index_timedelta", pd.TimedeltaIndex(["1s", "2 days"])
    yield "index_multi", pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    yield "index_category", pd.CategoricalIndex(["x", "y", "x"])
    yield "categorical", pd.Categorical(["a", "b", None, "a"])


def pandas_scalar_cases():
    yield "pd_na", pd.NA
    yield "pd_nat", pd.NaT
    yield "pd_timestamp", pd.Timestamp("2024-02-29 13:45:30.123456789")
    yield "pd_timestamp_utc", pd.Timestamp("2024-01-01 12:00", tz="UTC")
    yield "pd_timedelta", pd.Timedelta("1 days 2 hours 3.5 seconds")
    yield "pd_in_list", [pd.NA, pd.Timestamp("2024-01-01"), pd.Timedelta(-1)]


def numpy_cases():
    for dt in ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64", "complex64", "complex128"]:
        yield "np_" + dt, np.array([0, 1, 2], dtype=dt)
    yield "np_uint64_big", np.array([2**64 - 1, 2**53 + 1], dtype="uint64")
    yield "np_int64_extremes", np.array([-2**63, 2**63 - 1], dtype="int64")
    yield "np_float_special", np.array([np.nan, np.inf, -np.inf, -0.0, 1e300])
    yield "np_big_endian", np.array([1, 256], dtype=">i4")
    yield "np_big_endian_float", np.array([1.5], dtype=">f8")
    yield "np_unicode", np.array(["a", "héllo", "标签", ""])
    yield "np_bytes", np.array([b"ab", b"", b"xyz"])
    yield "np_object", np.array([1, "two", None, [3]], dtype=object)
    yield "np_2d", np.arange(6, dtype="int64").reshape(2, 3)
    yield "np_fortran", np.asfortranarray(np.arange(6, dtype="float64").reshape(2, 3))
    yield "np_3d", np.arange(8, dtype="int16").reshape(2, 2, 2)
    yield "np_0d", np.array(5.5)
    yield "np_empty", np.zeros((0, 3), dtype="int32")
    yield "np_datetime_ns", np.array(["2024-01-01T00:00:00.000000001", "NaT"], dtype="datetime64[ns]")
    yield "np_datetime_us", np.array(["2024-01-01T01:02:03.5", "NaT"], dtype="datetime64[us]")
    yield "np_datetime_s", np.array(["1969-12-31T23:59:59", "2024-02-29T12:00:00"], dtype="datetime64[s]")
    yield "np_datetime_ms", np.array(["2024-02-29T12:00:00.250"], dtype="datetime64[ms]")
    yield "np_datetime_m", np.array(["2024-02-29T12:34"], dtype="datetime64[m]")
    yield "np_datetime_h", np.array(["2024-02-29T12"], dtype="datetime64[h]")
    yield "np_datetime_D", np.array(["2024-01-01", "1900-03-01", "NaT"], dtype="datetime64[D]")
    yield "np_datetime_W", np.array(["2024-01-04"], dtype="datetime64[W]")
    yield "np_datetime_M", np.array(["2024-05"], dtype="datetime64[M]")
    yield "np_datetime_Y", np.array(["1999"], dtype="datetime64[Y]")
    yield "np_timedelta_ns", np.array([1, -5, "NaT"], dtype="timedelta64[ns]")
    yield "np_timedelta_us", np.array([1500000, -1], dtype="timedelta64[us]")
    yield "np_timedelta_s", np.array([90, "NaT"], dtype="timedelta64[s]")
    yield "np_timedelta_D", np.array([2], dtype="timedelta64[D]")
    yield "np_timedelta_W", np.array([1], dtype="timedelta64[W]")
    yield "np_structured", np.array([(1, 2.5, "ab"), (-3, 0.0, "")], dtype=[("a", "<i4"), ("b", "<f8"), ("c", "<U2")])
    yield "np_structured_mixed", np.array([(True, 7, b"xy", 1)], dtype=[("p", "?"), ("q", "i1"), ("r", "S2"), ("s", ">i2")])
    yield "np_structured_aligned", np.array([(1, 2.0)], dtype=np.dtype([("a", "i1"), ("b", "<f8")], align=True))
    yield "np_void", np.array([b"ab", b"c"], dtype="V2")
    yield "np_scalars", [np.float64(2.5), np.int64(-7), np.bool_(True), np.uint8(200), np.float32(0.1),
                         np.complex128(1j), np.str_("s"), np.bytes_(b"b")]
    yield "np_datetime_scalars", [np.datetime64("2024-01-01", "D"), np.datetime64("2024-01-01T00:00:01", "s"),
                                  np.datetime64("2024-01-01T00:00:00.000000001", "ns"), np.datetime64("NaT"),
                                  np.timedelta64(3, "s"), np.timedelta64(3, "ns")]


def plain_cases():
    yield "plain_scalars", [None, True, False, 0, -1, 2**31, -2**31 - 1, 2**63, -2**100, 1.5, -0.0, float("inf"),
                            float("nan"), 1e-300]
    yield "plain_text", ["", "abc", "héllo\n\\u0041 \u20ac \U0001F600", "quote'\"", "\x00\x1a\r"]
    yield "plain_bytes", [b"", b"\x00\xff\\'\"\n", bytearray(b"ba")]
    yield "plain_containers", {"list": [1, [2]], "tuple": (1, (2,), ()), "set": {3, 1}, "frozen": frozenset({"a"}),
                               "dict": {1: "one", None: 2}, "nested": {"a": {"b": None}}}
    yield "plain_shared", (lambda x: [x, x, {"k": x}])([1, 2])
    yield "plain_stdlib", [datetime.datetime(2024, 2, 29, 13, 45, 30, 123456), datetime.date(1999, 12, 31),
                           datetime.time(23, 59), datetime.timedelta(days=-1, seconds=5),
                           datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=ist), decimal.Decimal("1.50"),
                           complex(1, -2), range(0, 10, 3)]
    yield "plain_object", Outer.Inner()
    yield "enum_member", Color.GREEN
    yield "enum_in_dict", {"c": Color.RED}


PLAIN_PROTOCOLS = [0, 1, 2, 3, 4, 5]
DATA_PROTOCOLS = [2, 4, 5]
TEXT_PROTOCOL_CASES = {"df_mixed", "df_datetime_utc", "df_nullable", "series_category", "np_2d", "np_unicode",
                       "np_structured", "index_multi"}  # also written with protocols 0 and 1

# Renderings the pickle cannot give (see the docstring), by case.
DECODED = {
    "enum_member": {"$enum": "shop.models.Color.GREEN"},
    "enum_in_dict": {"c": {"$enum": "shop.models.Color.RED"}},
}


def main():
    groups = [frame_cases, series_cases, index_cases, pandas_scalar_cases, numpy_cases, plain_cases]
    expected = {}
    for old in os.listdir(HERE):
        if old.endswith(".pkl"):
            os.remove(os.path.join(HERE, old))
    for group in groups:
        for name, value in group():
            assert name not in expected, name
            if group is plain_cases:
                protocols = PLAIN_PROTOCOLS
            else:
                protocols = DATA_PROTOCOLS + ([0, 1] if name in TEXT_PROTOCOL_CASES else [])
            entry = {"python_type": rr.type_name(value), "value": rr.render_value(value),
                     "protocols": sorted(protocols)}
            if name in DECODED:
                entry["decoded"] = DECODED[name]
            expected[name] = entry
            for proto in protocols:
                data = pickle.dumps(value, protocol=proto)
                # What a reader gets is what it loads: numpy, for one, swaps a big-endian array to
                # native order when it rebuilds it from a protocol < 5 pickle.
                loaded = rr.render_value(pickle.loads(data))
                if loaded != entry["value"]:
                    entry.setdefault("by_protocol", {})[str(proto)] = loaded
                with open(os.path.join(HERE, "%s.p%d.pkl" % (name, proto)), "wb") as f:
                    f.write(data)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"generated_by": "tests/pickles/make_pickles.py (python %s, pandas %s, numpy %s)"
                   % (sys.version.split()[0], pd.__version__, np.__version__), "cases": expected},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("%d cases, %d pickles" % (len(expected), sum(len(e["protocols"]) for e in expected.values())))


if __name__ == "__main__":
    main()
