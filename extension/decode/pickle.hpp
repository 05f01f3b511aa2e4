#pragma once
// Decodes Python pickles (protocols 0-5) into JSON without executing anything: the opcodes build an
// inert object graph, and known reconstructors (datetime, Decimal, numpy, pandas, ...) are
// recognised by name and rendered as the oracle's `rendering` rules say (see pickle_render.cpp).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.hpp"  // mfsql::CorruptRecord (a std::runtime_error)

namespace mfsql {

struct UnpickleLimits {
  size_t max_depth = 256;             // nesting of containers/objects
  size_t max_memo = 1 << 20;          // memo entries
  size_t max_bytes = 256u << 20;      // input size accepted
  size_t max_objects = 1u << 24;      // decoded objects (~130 bytes each: bounds the graph's memory)
  size_t max_rendered = 1u << 24;     // JSON values produced (shared references are copied per use)
};

// Thrown for malformed/unsupported input; what() is a sentence saying what was wrong and at which
// byte offset.
struct UnpickleError : CorruptRecord {
  using CorruptRecord::CorruptRecord;
};

// Decodes `pickle` and renders it as JSON by the oracle's rendering rules (insertion order kept).
//
// Choices where the pickle does not carry what the oracle shows:
//  * Enum members: Python >= 3.11 pickles getattr(Class, 'NAME'), which carries the name but not
//    the value, rendered {"$enum": "module.Class.NAME"} (no "value"). Python <= 3.10 pickled
//    Class(value), which carries the value but not the name, rendered
//    {"$enum": "module.Class", "value": v}; any unknown class called with exactly one argument and
//    given no state is taken for such a lookup. IntEnum members, which the oracle renders as
//    plain ints, look the same in the pickle and get the same $enum forms.
//  * Python 2 `str` (BINSTRING) becomes a string when ASCII, else {"$bytes"}; text that is not
//    valid UTF-8 (e.g. lone surrogates) has the bad bytes replaced by U+FFFD.
//  * A datetime whose tzinfo needs a zone database (zoneinfo, pytz zones) renders
//    {"$datetime": local isoformat, "tzinfo": ...}; fixed offsets render as isoformat() does.
//  * Ints needing more than 16 KiB render as {"$int_hex": "0x..."} (Python refuses str() of them).
//  * A structure that contains itself renders the inner occurrence as {"$recursion": true}.
//  * A reference to a class or function used as a value renders as {"$global": "module.name"}.
//  * pandas values the oracle's rules do not name follow tables.md: a Series renders as
//    {"$series": {"name", "index", "data", "dtype"}}, an Index as {"$index": {"name", "data",
//    "dtype"}}, a Categorical as its values; pd.NA is null everywhere, and NaT is null in a
//    Series, Index or Categorical. In a DataFrame, cells are what to_dict(orient='split') holds
//    (a missing datetime "NaT", a missing category "NaN"), as the oracle renders them.
//  * Time zones: UTC and fixed offsets render with their offset; a column or Timestamp in a
//    named zone (which needs a zone database) falls back to the generic rendering.
//  * Anything unknown renders as {"$object": "module.Name", ...} with what was decoded
//    ("args", "attrs" or "state", "items", "entries"), never as an error.
nlohmann::ordered_json unpickle_to_json(std::string_view pickle, const UnpickleLimits& limits = {});

// The class of the pickled value, as type(v).__module__ + "." + type(v).__qualname__ would give it
// after loading: "builtins.int", "builtins.NoneType", "pandas.core.frame.DataFrame",
// "shop.models.Color" for an Enum member, "numpy.float64" for a numpy scalar. Read from the
// pickle without running it: the class the top-level object was built from, or the builtin type
// of a plain value. nullopt when the bytes do not decode, or when the pickle does not say (a
// reference to a class or function as the value itself, a call of something other than a class
// whose result type is not known here).
std::optional<std::string> pickled_class_name(std::string_view pickle, const UnpickleLimits& limits = {});

// "<class 'int'>" -> "builtins.int", "<class 'pandas.core.frame.DataFrame'>" ->
// "pandas.core.frame.DataFrame". Enum classes print as "<enum 'Name'>" without their module, so
// those give just "Name" (pickled_class_name reads the whole name from the pickle). Text that is
// not such a repr is returned unchanged.
std::string python_type_from_repr(std::string_view type_repr);

// The text of json.dumps(value, ensure_ascii=False, separators=(',', ':'), sort_keys=sort_keys)
// for a value produced by unpickle_to_json (Python's float repr, Python's escapes). The oracle
// sorts sets by this text and hashes large values with it.
std::string python_json_dumps(const nlohmann::ordered_json& value, bool sort_keys = false);

}  // namespace mfsql
