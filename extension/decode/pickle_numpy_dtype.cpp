// numpy dtypes from their pickle: numpy.dtype(descr, False, True) + BUILD of
//   (version, byteorder, subarray, names, fields, itemsize, alignment, flags[, metadata])
// where a datetime's metadata is (dict, (unit, count, 1, 1)) and a structured dtype's fields map
// each name to (dtype, offset[, title]). Names follow numpy's str(dtype) (numpy/core/_dtype.py).
#include <algorithm>

#include "decode/pickle_numpy.hpp"

namespace mfsql::pickle {

namespace {

constexpr int64_t kAlignedStruct = 0x80;  // NPY_ALIGNED_STRUCT in the flags
// Fields (of fields, ...) one structured dtype may hold: the memo lets a small pickle name the
// same dtype many times over, and every use is a copy here.
constexpr size_t kMaxFields = 4096;
constexpr size_t kMaxFieldNesting = 8;

const Node* dict_lookup(const Node* dict, std::string_view key) {
  if (!dict || dict->kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : dict->entries)
    if (k->kind == Kind::Str && k->text == key) return v;
  return nullptr;
}

// Python's repr of a str, as numpy prints field names.
std::string py_repr(const std::string& text) {
  char quote = text.find('\'') != std::string::npos && text.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == '\\' || c == quote) out += '\\';
    out += c;
  }
  return out + quote;
}

std::string unit_text(const NumpyDtype& d) {
  if (d.unit == "generic") return "";
  return "[" + (d.unit_count == 1 ? "" : std::to_string(d.unit_count)) + d.unit + "]";
}

// _scalar_str(dtype, short=True) with the byte order shown: "<i8", "i1", "?", "<M8[ns]".
std::string short_name(const NumpyDtype& d) {
  std::string order = d.big_endian ? ">" : "<";
  std::string size = std::to_string(d.itemsize);
  switch (d.kind) {
    case 'b': return "?";
    case 'O': return "O";
    case 'S': return "S" + size;
    case 'V': return "V" + size;
    case 'U': return order + "U" + std::to_string(d.itemsize / 4);
    case 'M': case 'm': return order + d.kind + "8" + unit_text(d);
    default: return (d.itemsize == 1 ? "" : order) + d.kind + size;
  }
}

std::string long_name(const NumpyDtype& d) {
  std::string bits = std::to_string(d.itemsize * 8);
  if (d.big_endian && d.kind != 'b' && d.kind != 'O' && d.kind != 'S' && d.kind != 'V' && d.itemsize > 1)
    return short_name(d);
  switch (d.kind) {
    case 'b': return "bool";
    case 'i': return "int" + bits;
    case 'u': return "uint" + bits;
    case 'f': return "float" + bits;
    case 'c': return "complex" + bits;
    case 'O': return "object";
    case 'U': return short_name(d);
    case 'S': return "|S" + std::to_string(d.itemsize);
    case 'V': return "|V" + std::to_string(d.itemsize);
    case 'M': return "datetime64" + unit_text(d);
    case 'm': return "timedelta64" + unit_text(d);
    default: return "?";
  }
}

// str() of a structured dtype: the list form when its fields are packed in order, else the dict.
std::string struct_name(const NumpyDtype& d, bool aligned) {
  size_t offset = 0;
  bool packed = !aligned;
  for (const NumpyField& f : d.fields) {
    packed = packed && f.offset == offset;
    offset += f.dtype.itemsize;
  }
  packed = packed && offset == d.itemsize;
  std::string out;
  if (packed) {
    for (const NumpyField& f : d.fields)
      out += (out.empty() ? "" : ", ") + std::string("(") + py_repr(f.name) + ", " + py_repr(f.dtype.short_name) + ")";
    return "[" + out + "]";
  }
  std::string names, formats, offsets;
  for (const NumpyField& f : d.fields) {
    std::string sep = names.empty() ? "" : ", ";
    names += sep + py_repr(f.name);
    formats += sep + py_repr(f.dtype.short_name);
    offsets += sep + std::to_string(f.offset);
  }
  return "{'names': [" + names + "], 'formats': [" + formats + "], 'offsets': [" + offsets +
         "], 'itemsize': " + std::to_string(d.itemsize) + (aligned ? ", 'aligned': True}" : "}");
}

bool known_size(char kind, size_t n) {
  switch (kind) {
    case 'i': case 'u': return n == 1 || n == 2 || n == 4 || n == 8;
    case 'f': return n == 2 || n == 4 || n == 8;
    case 'c': return n == 8 || n == 16;
    case 'M': case 'm': return n == 8;
    default: return true;
  }
}

bool read_time_unit(const Node* metadata, NumpyDtype& d) {
  const std::vector<Node*>* pair = sequence_items(metadata);
  const std::vector<Node*>* info = pair && pair->size() == 2 ? sequence_items((*pair)[1]) : nullptr;
  if (!info || info->size() != 4) return false;
  auto unit = bytes_value((*info)[0]);
  auto count = int_value((*info)[1]);
  static const char* const units[] = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic"};
  if (!unit || !count || *count < 1) return false;
  for (const char* u : units)
    if (*unit == u) {
      d.unit = *unit;
      d.unit_count = *count;
      return true;
    }
  return false;
}

bool read_fields(const Node* names, const Node* fields, NumpyDtype& d, size_t depth) {
  const std::vector<Node*>* order = sequence_items(names);
  if (!order || depth > kMaxFieldNesting || order->size() > kMaxFields) return false;
  d.leaves = 0;
  for (const Node* name : *order) {
    const std::vector<Node*>* entry = str_value(name) ? sequence_items(dict_lookup(fields, name->text)) : nullptr;
    if (!entry || entry->size() < 2) return false;
    auto offset = int_value((*entry)[1]);
    auto dtype = numpy_dtype((*entry)[0]);
    if (!offset || *offset < 0 || !dtype || static_cast<size_t>(*offset) + dtype->itemsize > d.itemsize) return false;
    d.leaves += dtype->leaves;
    if (d.leaves > kMaxFields) return false;
    d.fields.push_back(NumpyField{name->text, std::move(*dtype), static_cast<size_t>(*offset)});
  }
  d.leaves = std::max<size_t>(d.leaves, 1);
  return true;
}

}  // namespace

std::optional<NumpyDtype> numpy_dtype(const Node* node) {
  if (callable_name(node) != "numpy.dtype") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  const std::vector<Node*>* state = sequence_items(node->call->state);
  if (!args || args->empty() || !str_value((*args)[0]) || !state || state->size() < 8) return std::nullopt;
  const std::string& descr = (*args)[0]->text;
  const std::string* endian = str_value((*state)[1]);
  if (descr.size() < 2 || !endian || (*state)[2]->kind != Kind::None) return std::nullopt;  // subarrays: not decoded
  NumpyDtype d;
  d.kind = descr[0];
  d.big_endian = *endian == ">";
  size_t number = 0;
  for (char c : descr.substr(1)) {
    if (c < '0' || c > '9' || number > 100000000) return std::nullopt;
    number = number * 10 + static_cast<size_t>(c - '0');
  }
  d.itemsize = d.kind == 'U' ? number * 4 : d.kind == 'b' ? 1 : number;
  if (!known_size(d.kind, number)) return std::nullopt;
  bool aligned = false;
  switch (d.kind) {
    case 'b': case 'i': case 'u': case 'f': case 'c': case 'O': case 'U': case 'S': break;
    case 'M': case 'm':
      if (state->size() < 9 || !read_time_unit((*state)[8], d)) return std::nullopt;
      break;
    case 'V': {
      if ((*state)[3]->kind == Kind::None) break;  // plain bytes
      static thread_local size_t nesting = 0;      // fields hold dtypes: bound the recursion
      ++nesting;
      bool ok = read_fields((*state)[3], (*state)[4], d, nesting);
      --nesting;
      if (!ok) return std::nullopt;
      auto flags = int_value((*state)[7]);
      aligned = flags && (*flags & kAlignedStruct);
      break;
    }
    default: return std::nullopt;
  }
  d.short_name = short_name(d);
  d.name = d.fields.empty() ? long_name(d) : struct_name(d, aligned);
  return d;
}

NumpyDtype native_order(const NumpyDtype& dtype) {
  if (!dtype.big_endian || !dtype.fields.empty()) return dtype;
  NumpyDtype named = dtype;
  named.big_endian = false;
  NumpyDtype out = dtype;  // the bytes stay as pickled: only the name changes
  out.short_name = short_name(named);
  out.name = long_name(named);
  return out;
}

}  // namespace mfsql::pickle
