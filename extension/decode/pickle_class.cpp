// pickled_class_name: the class of a pickle's top-level value, read from the graph the machine
// builds (nothing is run). A plain value's type follows from its opcode; an object's class is
// what its reconstructor names: the class itself for NEWOBJ and most REDUCE calls, the first
// argument of the helpers that build an instance of a class passed to them, or a fixed class for
// the helpers that always build the same one.
#include "decode/pickle_numpy.hpp"

namespace mfsql::pickle {

namespace {

// Helpers whose result is an instance of the class given as their first argument.
bool builds_first_argument(const std::string& name) {
  static const char* const helpers[] = {
      "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "builtins.getattr",
      "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
      "pandas.core.indexes.base._new_Index", "pandas.core.indexes.datetimes._new_DatetimeIndex",
      "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked"};
  for (const char* helper : helpers)
    if (name == helper) return true;
  return false;
}

// Helpers that always build one class.
const char* fixed_result(const std::string& name) {
  static const std::pair<const char*, const char*> helpers[] = {
      {"_codecs.encode", "builtins.bytes"},
      {"numpy.core.numeric._frombuffer", "numpy.ndarray"},
      {"numpy._core.numeric._frombuffer", "numpy.ndarray"},
      {"pandas._libs.tslibs.timestamps._unpickle_timestamp", "pandas._libs.tslibs.timestamps.Timestamp"},
      {"pandas._libs.tslibs.timedeltas._timedelta_unpickle", "pandas._libs.tslibs.timedeltas.Timedelta"},
      {"pandas._libs.tslibs.nattype.__nat_unpickle", "pandas._libs.tslibs.nattype.NaTType"},
      {"pytz._UTC", "pytz.UTC"},
      {"zoneinfo.ZoneInfo._unpickle", "zoneinfo.ZoneInfo"},
  };
  for (const auto& [helper, result] : helpers)
    if (name == helper) return result;
  return nullptr;
}

// numpy.core.multiarray.scalar(dtype, bytes): the numpy scalar type of the dtype.
std::optional<std::string> numpy_scalar_class(const Node* call) {
  const std::vector<Node*>* args = sequence_items(call->call->args);
  auto dtype = args && !args->empty() ? numpy_dtype((*args)[0]) : std::nullopt;
  if (!dtype) return std::nullopt;
  std::string bits = std::to_string(dtype->itemsize * 8);
  switch (dtype->kind) {
    case 'b': return "numpy.bool_";
    case 'i': return "numpy.int" + bits;
    case 'u': return "numpy.uint" + bits;
    case 'f': return "numpy.float" + bits;
    case 'c': return "numpy.complex" + bits;
    case 'U': return "numpy.str_";
    case 'S': return "numpy.bytes_";
    case 'V': return "numpy.void";
    case 'M': return "numpy.datetime64";
    case 'm': return "numpy.timedelta64";
    default: return std::nullopt;  // an object scalar is the object itself
  }
}

std::optional<std::string> class_of(const Node* node) {
  switch (node->kind) {
    case Kind::None: return "builtins.NoneType";
    case Kind::Bool: return "builtins.bool";
    case Kind::Int: case Kind::BigInt: return "builtins.int";
    case Kind::Float: return "builtins.float";
    case Kind::Str: return "builtins.str";
    case Kind::Bytes: return node->integer == 1 ? "builtins.bytearray" : "builtins.bytes";
    case Kind::List: return "builtins.list";
    case Kind::Tuple: return "builtins.tuple";
    case Kind::Dict: return "builtins.dict";
    case Kind::Set: return "builtins.set";
    case Kind::FrozenSet: return "builtins.frozenset";
    case Kind::Global:
      if (node->is_global("pandas._libs.missing", "NA")) return "pandas._libs.missing.NAType";
      return std::nullopt;  // a class or a function: the pickle does not say which
    case Kind::Call: break;
  }
  std::string name = callable_name(node);
  if (name.empty()) return std::nullopt;
  if (const char* fixed = fixed_result(name)) return fixed;
  if (name == "numpy.core.multiarray.scalar" || name == "numpy._core.multiarray.scalar") {
    if (auto scalar = numpy_scalar_class(node)) return scalar;
    const std::vector<Node*>* args = sequence_items(node->call->args);
    if (args && args->size() == 2) return class_of((*args)[1]);
    return std::nullopt;
  }
  if (builds_first_argument(name)) {
    const std::vector<Node*>* args = sequence_items(node->call->args);
    std::string cls = args && !args->empty() ? class_reference_name((*args)[0]) : "";
    if (cls.empty()) return std::nullopt;
    return cls;
  }
  return name;  // NEWOBJ(cls) or REDUCE(cls, args): an instance of cls
}

}  // namespace

}  // namespace mfsql::pickle

namespace mfsql {

std::optional<std::string> pickled_class_name(std::string_view pickle, const UnpickleLimits& limits) {
  try {
    std::unique_ptr<pickle::Graph> graph = pickle::decode_pickle(pickle, limits);
    return pickle::class_of(graph->root);
  } catch (const UnpickleError&) {
    return std::nullopt;
  }
}

}  // namespace mfsql
