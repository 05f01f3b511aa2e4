#pragma once
// Decodes Python pickles (protocols 2-4) into JSON without executing anything: the opcodes build an
// inert object graph, and known reconstructors (datetime, Decimal, numpy, pandas, ...) are
// recognised by name and rendered as the oracle's `rendering` rules say (see pickle_render.cpp).
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.hpp"  // mfsql::CorruptRecord (a std::runtime_error)

namespace mfsql {

struct UnpickleLimits {
  size_t max_depth = 256;             // nesting of containers/objects
  size_t max_memo = 1 << 20;          // memo entries
  size_t max_bytes = 256u << 20;      // input size accepted
  size_t max_objects = 1u << 25;      // decoded objects (bounds the graph's memory)
  size_t max_rendered = 1u << 25;     // JSON nodes produced (shared references are copied per use)
};

// Thrown for malformed/unsupported input; what() is a sentence saying what was wrong and at which
// byte offset.
struct UnpickleError : CorruptRecord {
  using CorruptRecord::CorruptRecord;
};

// Decodes `pickle` and renders it as JSON by the oracle's rendering rules (insertion order kept).
//
// Choices where the pickle does not carry what the oracle shows:
//  * Enum members pickle as a call of the class with the value; the member NAME is not in the
//    pickle, so they render as {"$enum": "module.Class", "value": v} (no ".NAME"). Any unknown
//    class called with exactly one argument and given no state is assumed to be such a lookup.
//    (IntEnum members, which the oracle renders as plain ints, cannot be told apart either.)
//  * A structure that contains itself renders the inner occurrence as {"$recursion": true}.
//  * A reference to a class or function used as a value renders as {"$global": "module.name"}.
//  * Anything unknown renders as {"$object": "module.Name", ...} with what was decoded
//    ("args", "attrs" or "state", "items", "entries"), never as an error.
nlohmann::ordered_json unpickle_to_json(std::string_view pickle, const UnpickleLimits& limits = {});

// "<class 'int'>" -> "builtins.int", "<class 'pandas.core.frame.DataFrame'>" ->
// "pandas.core.frame.DataFrame". Enum classes print as "<enum 'Name'>" without their module, so
// those give just "Name". Text that is not such a repr is returned unchanged.
std::string python_type_from_repr(std::string_view type_repr);

// The text of json.dumps(value, ensure_ascii=False, separators=(',', ':'), sort_keys=sort_keys)
// for a value produced by unpickle_to_json (Python's float repr, Python's escapes). The oracle
// sorts sets by this text and hashes large values with it.
std::string python_json_dumps(const nlohmann::ordered_json& value, bool sort_keys = false);

}  // namespace mfsql
