// The values of pandas columns and indexes from their pickle forms (pandas 1.x):
//   numpy array                 _reconstruct / _frombuffer (pickle_numpy.cpp)
//   DatetimeArray, TimedeltaArray, Categorical, StringArray
//                               __pyx_unpickle_NDArrayBacked(cls, checksum, None) + BUILD (ndarray, dtype, {})
//   IntegerArray, FloatingArray, BooleanArray
//                               NEWOBJ(cls) + BUILD {"_data": ndarray, "_mask": bool ndarray, ...}
//   Index                       _new_Index(cls, {"data": ..., "name": ...}); RangeIndex: start/stop/step;
//                               MultiIndex: levels/codes/names; DatetimeIndex: _new_DatetimeIndex
#include "decode/pickle_pandas.hpp"

namespace mfsql::pickle {

const Node* dict_get(const Node* dict, std::string_view key) {
  if (!dict || dict->kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : dict->entries)
    if (k->kind == Kind::Str && k->text == key) return v;
  return nullptr;
}

namespace {

// How a missing value shows: a DataFrame cell as the oracle's to_dict() gives it ("NaT", "NaN"),
// a Series/Index cell as null (tables.md).
Json missing(TimeStyle style, const char* as_cell) { return style == TimeStyle::PandasCell ? Json(as_cell) : Json(nullptr); }

// Lays out an array's elements as PandasValues: 2-D arrays are (columns, rows).
std::optional<PandasValues> from_array(Renderer& renderer, const NumpyArray& array, size_t depth, TimeStyle style) {
  if (array.shape.empty() || array.shape.size() > 2) return std::nullopt;
  PandasValues out;
  out.dtype = array.dtype.name;
  out.columns = array.shape.size() == 2 ? array.shape[0] : 1;
  out.rows = array.shape.back();
  renderer.charge(array.size(), nullptr);
  out.cells.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) out.cells.push_back(numpy_element(renderer, array, i, depth, style));
  return out;
}

std::optional<PandasValues> datetimes(Renderer& renderer, const NumpyArray& data, const Node* dtype, TimeStyle style) {
  if (data.dtype.kind != 'M' || data.dtype.unit != "ns" || data.shape.empty() || data.shape.size() > 2) return std::nullopt;
  PandasValues out;
  std::optional<int64_t> offset = 0;
  bool aware = callable_name(dtype) == "pandas.core.dtypes.dtypes.DatetimeTZDtype";
  std::string zone;
  if (aware) {
    offset = tz_offset_seconds(dict_get(dtype->call->state, "tz"), &zone);
    if (!offset) return std::nullopt;  // a named zone needs a time zone database
    out.dtype = "datetime64[ns, " + zone + "]";
  } else {
    out.dtype = "datetime64[ns]";
  }
  out.columns = data.shape.size() == 2 ? data.shape[0] : 1;
  out.rows = data.shape.back();
  renderer.charge(data.size(), dtype);
  for (size_t i = 0; i < data.size(); ++i) {
    int64_t ns = numpy_int64(data, i);
    out.cells.push_back(ns == kNaT ? missing(style, "NaT") : Json(timestamp_iso(ns, aware, *offset)));
  }
  return out;
}

std::optional<PandasValues> categorical(Renderer& renderer, const NumpyArray& codes, const Node* dtype, size_t depth,
                                        TimeStyle style) {
  if (callable_name(dtype) != "pandas.core.dtypes.dtypes.CategoricalDtype" || codes.shape.size() != 1 ||
      (codes.dtype.kind != 'i' && codes.dtype.kind != 'u'))
    return std::nullopt;
  auto categories = pandas_index(renderer, dict_get(dtype->call->state, "categories"), depth + 1, style);
  if (!categories) return std::nullopt;
  PandasValues out;
  out.dtype = "category";
  out.rows = codes.shape[0];
  bool times = categories->dtype.starts_with("datetime64") || categories->dtype.starts_with("timedelta64");
  renderer.charge(out.rows, nullptr);
  for (size_t i = 0; i < out.rows; ++i) {
    int64_t code = numpy_int64(codes, i);
    if (code < 0) out.cells.push_back(missing(style, times ? "NaT" : "NaN"));
    else if (static_cast<size_t>(code) < categories->labels.size()) out.cells.push_back(categories->labels[code]);
    else return std::nullopt;
  }
  return out;
}

std::optional<PandasValues> ndarray_backed(Renderer& renderer, const Node* node, size_t depth, TimeStyle style) {
  const std::vector<Node*>* args = sequence_items(node->call->args);
  const std::vector<Node*>* state = sequence_items(node->call->state);
  if (!args || args->empty() || (*args)[0]->kind != Kind::Global || !state || state->size() < 2) return std::nullopt;
  const std::string& cls = (*args)[0]->qualified_name();
  // pandas 1.5 writes (dtype, ndarray, attrs); accept the two in either order.
  auto data = numpy_array((*state)[1]);
  const Node* dtype = (*state)[0];
  if (!data) {
    data = numpy_array((*state)[0]);
    dtype = (*state)[1];
  }
  if (!data) return std::nullopt;
  if (cls == "pandas.core.arrays.datetimes.DatetimeArray") return datetimes(renderer, *data, dtype, style);
  if (cls == "pandas.core.arrays.categorical.Categorical") return categorical(renderer, *data, dtype, depth, style);
  if (cls == "pandas.core.arrays.timedeltas.TimedeltaArray") {
    if (data->dtype.kind != 'm') return std::nullopt;
    auto out = from_array(renderer, *data, depth, style);
    if (out) out->dtype = "timedelta64[ns]";
    return out;
  }
  if (cls == "pandas.core.arrays.string_.StringArray" && data->dtype.kind == 'O') {
    auto out = from_array(renderer, *data, depth, style);  // pd.NA renders as null
    if (out) out->dtype = "string";
    return out;
  }
  return std::nullopt;
}

// IntegerArray/FloatingArray/BooleanArray: the data, with pd.NA where the mask is set.
std::optional<PandasValues> masked(Renderer& renderer, const Node* node, size_t depth, TimeStyle style) {
  const std::string cls = callable_name(node);
  auto data = numpy_array(dict_get(node->call->state, "_data"));
  auto mask = numpy_array(dict_get(node->call->state, "_mask"));
  if (!data || !mask || data->shape.size() != 1 || mask->shape != data->shape || mask->dtype.kind != 'b')
    return std::nullopt;
  auto out = from_array(renderer, *data, depth, style);
  if (!out) return std::nullopt;
  for (size_t i = 0; i < out->rows; ++i)
    if (mask->raw[i]) out->cells[i] = nullptr;
  std::string bits = std::to_string(data->dtype.itemsize * 8);
  if (cls == "pandas.core.arrays.boolean.BooleanArray" && data->dtype.kind == 'b') out->dtype = "boolean";
  else if (cls == "pandas.core.arrays.integer.IntegerArray" && data->dtype.kind == 'i') out->dtype = "Int" + bits;
  else if (cls == "pandas.core.arrays.integer.IntegerArray" && data->dtype.kind == 'u') out->dtype = "UInt" + bits;
  else if (cls == "pandas.core.arrays.floating.FloatingArray" && data->dtype.kind == 'f') out->dtype = "Float" + bits;
  else return std::nullopt;
  return out;
}

// range(start, stop, step) expanded, refusing absurd lengths.
std::optional<std::vector<Json>> expand_range(const Node* fields, size_t limit) {
  auto start = int_value(dict_get(fields, "start"));
  auto stop = int_value(dict_get(fields, "stop"));
  auto step = int_value(dict_get(fields, "step"));
  if (!start || !stop || !step || *step == 0) return std::nullopt;
  std::vector<Json> out;
  for (int64_t v = *start; *step > 0 ? v < *stop : v > *stop;) {
    if (out.size() >= limit) return std::nullopt;
    out.push_back(render_int(v));
    if (__builtin_add_overflow(v, *step, &v)) break;
  }
  return out;
}

std::optional<PandasIndex> multi_index(Renderer& renderer, const Node* fields, size_t depth, TimeStyle style) {
  const std::vector<Node*>* levels = sequence_items(dict_get(fields, "levels"));
  const std::vector<Node*>* codes = sequence_items(dict_get(fields, "codes"));
  if (!levels || !codes || levels->size() != codes->size() || levels->empty()) return std::nullopt;
  std::vector<PandasIndex> level_labels;
  std::vector<NumpyArray> level_codes;
  for (size_t k = 0; k < levels->size(); ++k) {
    auto level = pandas_index(renderer, (*levels)[k], depth + 1, style);
    auto code = numpy_array((*codes)[k]);
    if (!level || !code || code->shape.size() != 1 || (code->dtype.kind != 'i' && code->dtype.kind != 'u') ||
        (k > 0 && code->shape != level_codes[0].shape))
      return std::nullopt;
    level_labels.push_back(std::move(*level));
    level_codes.push_back(std::move(*code));
  }
  PandasIndex out;
  out.dtype = "object";
  out.name = nullptr;  // a MultiIndex has names, one per level, and no name
  size_t rows = level_codes[0].shape[0];
  renderer.charge(rows * levels->size(), nullptr);
  for (size_t r = 0; r < rows; ++r) {
    Json label = Json::array();
    for (size_t k = 0; k < levels->size(); ++k) {
      int64_t code = numpy_int64(level_codes[k], r);
      if (code >= 0 && static_cast<size_t>(code) >= level_labels[k].labels.size()) return std::nullopt;
      label.push_back(code < 0 ? missing(style, "NaN") : level_labels[k].labels[code]);
    }
    out.labels.push_back(std::move(label));
  }
  return out;
}

}  // namespace

std::optional<PandasValues> pandas_values(Renderer& renderer, const Node* values, size_t depth, TimeStyle style) {
  renderer.check_depth(depth, values);
  const std::string name = callable_name(values);
  if (name == "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked") return ndarray_backed(renderer, values, depth, style);
  if (name.starts_with("pandas.core.arrays.") && dict_get(values->call->state, "_mask")) return masked(renderer, values, depth, style);
  if (auto array = numpy_array(values)) return from_array(renderer, *array, depth, style);
  return std::nullopt;
}

std::optional<PandasIndex> pandas_index(Renderer& renderer, const Node* index, size_t depth, TimeStyle style) {
  const std::string name = callable_name(index);
  if (name != "pandas.core.indexes.base._new_Index" && name != "pandas.core.indexes.datetimes._new_DatetimeIndex")
    return std::nullopt;
  renderer.check_depth(depth, index);
  const std::vector<Node*>* args = sequence_items(index->call->args);
  if (!args || args->size() != 2 || (*args)[0]->kind != Kind::Global) return std::nullopt;
  const Node* cls = (*args)[0];
  const Node* fields = (*args)[1];
  const Node* label_name = dict_get(fields, "name");
  PandasIndex out;
  out.name = label_name ? renderer.render(const_cast<Node*>(label_name), depth + 1) : Json(nullptr);
  if (cls->is_global("pandas.core.indexes.range", "RangeIndex")) {
    auto labels = expand_range(fields, renderer.remaining());
    if (!labels) return std::nullopt;
    out.labels = std::move(*labels);
    out.dtype = "int64";
    return out;
  }
  if (cls->is_global("pandas.core.indexes.multi", "MultiIndex")) return multi_index(renderer, fields, depth, style);
  const Node* data = dict_get(fields, "data");
  auto values = data ? pandas_values(renderer, data, depth + 1, style) : std::nullopt;
  if (!values || values->columns != 1) return std::nullopt;
  out.labels = std::move(values->cells);
  out.dtype = std::move(values->dtype);
  return out;
}

}  // namespace mfsql::pickle
