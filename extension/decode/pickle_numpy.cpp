#include "decode/pickle_numpy.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace mfsql::pickle {

namespace {

bool is_numpy_global(const std::string& name, std::string_view function) {
  // numpy >= 2 moved numpy.core to numpy._core; pickles name whichever wrote them.
  return name == "numpy.core.multiarray." + std::string(function) ||
         name == "numpy._core.multiarray." + std::string(function);
}

uint64_t read_unsigned(std::string_view bytes, bool big_endian) {
  uint64_t v = 0;
  if (big_endian)
    for (char c : bytes) v = (v << 8) | static_cast<uint8_t>(c);
  else
    for (size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

double half_to_double(uint16_t h) {
  int exponent = (h >> 10) & 0x1f;
  double mantissa = h & 0x3ff;
  double magnitude = exponent == 0    ? std::ldexp(mantissa, -24)
                     : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                      : std::ldexp(mantissa + 1024, exponent - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

double read_float(std::string_view bytes, bool big_endian) {
  uint64_t bits = read_unsigned(bytes, big_endian);
  if (bytes.size() == 2) return half_to_double(static_cast<uint16_t>(bits));
  if (bytes.size() == 4) return std::bit_cast<float>(static_cast<uint32_t>(bits));
  return std::bit_cast<double>(bits);
}


// Where the element at C-order `index` sits in memory when the data is column-major.
size_t fortran_offset(const std::vector<size_t>& shape, size_t index) {
  size_t offset = 0, stride = 1;
  std::vector<size_t> position(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    position[d] = index % shape[d];
    index /= shape[d];
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    offset += position[d] * stride;
    stride *= shape[d];
  }
  return offset;
}

Json render_nested(Renderer& renderer, const NumpyArray& array, size_t dim, size_t& next, size_t depth,
                   const Node* at) {
  if (dim == array.shape.size()) return numpy_element(renderer, array, next++, depth);
  renderer.check_depth(depth + 1, at);
  Json out = Json::array();
  for (size_t i = 0; i < array.shape[dim]; ++i)
    out.push_back(render_nested(renderer, array, dim + 1, next, depth + 1, at));
  return out;
}

std::optional<NumpyArray> scalar_of(const Node* node) {
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args || args->size() != 2) return std::nullopt;
  auto dtype = numpy_dtype((*args)[0]);
  if (!dtype) return std::nullopt;
  NumpyArray scalar;
  scalar.dtype = *dtype;
  if (dtype->kind == 'O') {
    scalar.objects = &node->call->args->items;  // element 0 would be the dtype: see below
    return scalar;
  }
  auto raw = bytes_value((*args)[1]);
  if (!raw || raw->size() != dtype->itemsize) return std::nullopt;
  scalar.raw = std::move(*raw);
  return scalar;
}

bool is_numpy_numeric_global(const std::string& name, std::string_view function) {
  return name == "numpy.core.numeric." + std::string(function) || name == "numpy._core.numeric." + std::string(function);
}

bool read_shape(const std::vector<Node*>& extents, NumpyArray& array) {
  size_t count = 1;
  for (Node* extent : extents) {
    auto n = int_value(extent);
    if (!n || *n < 0 || (*n > 0 && count > (size_t{1} << 40) / static_cast<size_t>(*n))) return false;
    array.shape.push_back(static_cast<size_t>(*n));
    count *= static_cast<size_t>(*n);
  }
  return true;
}

// Protocol 5: _frombuffer(PickleBuffer in band, dtype, shape, 'C' | 'F'); for 'F' the buffer
// holds the transpose, i.e. the data in column-major order. Object arrays never take this form.
std::optional<NumpyArray> from_buffer(const Node* node) {
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args || args->size() != 4) return std::nullopt;
  auto dtype = numpy_dtype((*args)[1]);
  const std::vector<Node*>* shape = sequence_items((*args)[2]);
  const std::string* order = str_value((*args)[3]);
  auto raw = bytes_value((*args)[0]);
  if (!dtype || dtype->kind == 'O' || !shape || !order || (*order != "C" && *order != "F") || !raw) return std::nullopt;
  NumpyArray array;
  array.dtype = *dtype;
  array.fortran = *order == "F";
  if (!read_shape(*shape, array) || raw->size() != array.size() * dtype->itemsize) return std::nullopt;
  array.raw = std::move(*raw);
  return array;
}

}  // namespace

size_t NumpyArray::size() const {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  return n;
}

std::optional<NumpyArray> numpy_array(const Node* node) {
  if (is_numpy_numeric_global(callable_name(node), "_frombuffer")) return from_buffer(node);
  if (!is_numpy_global(callable_name(node), "_reconstruct")) return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args || args->empty() || !(*args)[0]->is_global("numpy", "ndarray")) return std::nullopt;
  const std::vector<Node*>* state = sequence_items(node->call->state);
  if (!state || state->size() < 4 || state->size() > 5) return std::nullopt;
  size_t first = state->size() - 4;  // version 1 adds a leading version number
  const std::vector<Node*>* shape = sequence_items((*state)[first]);
  auto dtype = numpy_dtype((*state)[first + 1]);
  auto fortran = int_value((*state)[first + 2]);
  Node* data = (*state)[first + 3];
  if (!shape || !dtype || !fortran) return std::nullopt;
  NumpyArray array;
  array.dtype = native_order(*dtype);
  array.fortran = *fortran != 0;
  if (!read_shape(*shape, array)) return std::nullopt;
  size_t count = array.size();
  if (dtype->kind == 'O') {
    array.objects = sequence_items(data);
    if (!array.objects || array.objects->size() != count) return std::nullopt;
    array.fortran = false;  // object data is pickled as a list in C order whatever the layout
    return array;
  }
  auto raw = bytes_value(data);
  if (!raw || raw->size() != count * dtype->itemsize) return std::nullopt;
  array.raw = std::move(*raw);
  return array;
}

namespace {

int64_t signed_value(std::string_view item, bool big_endian) {
  uint64_t v = read_unsigned(item, big_endian);
  if (item.size() < 8 && (v >> (8 * item.size() - 1)) & 1) v |= ~uint64_t{0} << (8 * item.size());
  return static_cast<int64_t>(v);
}

Json time_value(const NumpyDtype& dtype, int64_t v, TimeStyle style) {
  if (style == TimeStyle::Numpy || dtype.unit != "ns" || dtype.unit_count != 1) return numpy_time_value(dtype, v);
  if (v == kNaT) return style == TimeStyle::PandasCell ? Json("NaT") : Json(nullptr);
  if (dtype.kind == 'M') return timestamp_iso(v);
  return Json{{"$timedelta_seconds", pandas_total_seconds(v)}};
}

// One element of a non-object dtype from its bytes, as .item() gives it.
Json render_item(const NumpyDtype& dtype, std::string_view item, TimeStyle style) {
  switch (dtype.kind) {
    case 'b': return item[0] != 0;
    case 'i': return render_int(signed_value(item, dtype.big_endian));
    case 'u': {
      uint64_t v = read_unsigned(item, dtype.big_endian);
      if (v <= (uint64_t{1} << 53)) return v;
      return std::to_string(v);
    }
    case 'f': return render_float(read_float(item, dtype.big_endian));
    case 'c': {
      size_t half = dtype.itemsize / 2;
      Json parts = Json::array();
      parts.push_back(render_float(read_float(item.substr(0, half), dtype.big_endian)));
      parts.push_back(render_float(read_float(item.substr(half), dtype.big_endian)));
      return Json{{"$complex", std::move(parts)}};
    }
    case 'U': {
      std::string out;
      for (size_t i = 0; i + 4 <= item.size(); i += 4) {
        auto cp = static_cast<uint32_t>(read_unsigned(item.substr(i, 4), dtype.big_endian));
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
        append_utf8(out, cp);
      }
      while (!out.empty() && out.back() == '\0') out.pop_back();  // numpy pads with NULs
      return out;
    }
    case 'S': {
      while (!item.empty() && item.back() == '\0') item.remove_suffix(1);
      return bytes_json(item);
    }
    case 'M': case 'm': return time_value(dtype, signed_value(item, dtype.big_endian), style);
    case 'V': {
      if (dtype.fields.empty()) return bytes_json(item);  // void: the bytes as they are
      Json out = Json::array();  // a record: the tuple of its fields
      for (const NumpyField& f : dtype.fields)
        out.push_back(render_item(f.dtype, item.substr(f.offset, f.dtype.itemsize), style));
      return out;
    }
    default: return nullptr;
  }
}

}  // namespace

Json numpy_element(Renderer& renderer, const NumpyArray& array, size_t index, size_t depth, TimeStyle style) {
  const NumpyDtype& dtype = array.dtype;
  if (dtype.kind == 'O') return renderer.render((*array.objects)[index], depth);
  size_t at = array.fortran ? fortran_offset(array.shape, index) : index;
  return render_item(dtype, std::string_view(array.raw).substr(at * dtype.itemsize, dtype.itemsize), style);
}

int64_t numpy_int64(const NumpyArray& array, size_t index) {
  size_t at = array.fortran ? fortran_offset(array.shape, index) : index;
  std::string_view item = std::string_view(array.raw).substr(at * array.dtype.itemsize, array.dtype.itemsize);
  if (array.dtype.kind == 'u') return static_cast<int64_t>(read_unsigned(item, array.dtype.big_endian));
  return signed_value(item, array.dtype.big_endian);
}

std::optional<Json> render_numpy_call(Renderer& renderer, Node* node, size_t depth) {
  const std::string name = callable_name(node);
  if (!name.starts_with("numpy.")) return std::nullopt;
  if (auto array = numpy_array(node)) {
    renderer.charge(array->size() * array->dtype.leaves, node);
    Json shape = Json::array();
    for (size_t d : array->shape) shape.push_back(d);
    size_t next = 0;
    Json data = render_nested(renderer, *array, 0, next, depth + 1, node);
    return Json{{"$ndarray", {{"dtype", array->dtype.name}, {"shape", std::move(shape)}, {"data", std::move(data)}}}};
  }
  if (is_numpy_global(name, "scalar")) {
    auto scalar = scalar_of(node);
    if (!scalar) return std::nullopt;
    // An object scalar carries the object itself as the second argument.
    return numpy_element(renderer, *scalar, scalar->dtype.kind == 'O' ? 1 : 0, depth);
  }
  if (auto dtype = numpy_dtype(node)) return Json{{"$repr", "dtype('" + dtype->name + "')"}};
  return std::nullopt;
}

}  // namespace mfsql::pickle
