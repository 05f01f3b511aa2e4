// pandas objects rendered as the oracle's rules and tables.md say:
//   DataFrame  NEWOBJ(DataFrame) + BUILD {"_mgr": BlockManager(blocks, axes), ...} as
//              to_dict(orient='split') shows it, where axes = [columns Index, row Index] and
//              blocks = _unpickle_block(values of shape (columns in block, rows), placement, ndim),
//              placement (a slice or an int ndarray) saying which columns the block's rows are
//   Series     NEWOBJ(Series) + BUILD {"_mgr": SingleBlockManager + BUILD (axes, [values], ...),
//              "name": ...} as {"$series": {"name", "index", "data", "dtype"}}
//   Index      {"$index": {"name", "data", "dtype"}}; Categorical: its values
//   Timestamp, Timedelta, NaT as the datetime rules render them; pd.NA is null (pickle_render.cpp)
// Shapes not covered here (sparse, interval and period arrays, named time zones, older layouts)
// return nullopt so the generic {"$object": ...} rendering shows the raw state instead.
#include "decode/pickle_pandas.hpp"

namespace mfsql::pickle {

namespace {

// The column positions a block holds: BlockPlacement pickles as a slice or an int64 ndarray.
std::optional<std::vector<int64_t>> placement(const Node* locs, size_t limit) {
  std::vector<int64_t> out;
  if (callable_name(locs) == "builtins.slice") {
    const std::vector<Node*>* args = sequence_items(locs->call->args);
    if (!args || args->size() != 3) return std::nullopt;
    auto start = int_value((*args)[0]);
    auto stop = int_value((*args)[1]);
    auto step = (*args)[2]->kind == Kind::None ? std::optional<int64_t>(1) : int_value((*args)[2]);
    if (!start || !stop || !step || *step == 0) return std::nullopt;
    for (int64_t v = *start; *step > 0 ? v < *stop : v > *stop;) {
      if (out.size() >= limit) return std::nullopt;
      out.push_back(v);
      if (__builtin_add_overflow(v, *step, &v)) break;
    }
    return out;
  }
  auto array = numpy_array(locs);
  if (!array || array->shape.size() != 1 || array->dtype.kind != 'i' || array->shape[0] > limit) return std::nullopt;
  for (size_t i = 0; i < array->shape[0]; ++i) out.push_back(numpy_int64(*array, i));
  return out;
}

Json labels_json(std::vector<Json>& labels) {
  Json out = Json::array();
  for (Json& label : labels) out.push_back(std::move(label));
  return out;
}

std::optional<Json> render_dataframe(Renderer& renderer, Node* node, size_t depth) {
  const Node* state = node->call->state;
  const Node* manager = dict_get(state, "_mgr");
  if (!manager) manager = dict_get(state, "_data");  // pandas < 1.1 named it _data
  if (callable_name(manager) != "pandas.core.internals.managers.BlockManager") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(manager->call->args);
  if (!args || args->size() != 2) return std::nullopt;
  const std::vector<Node*>* blocks = sequence_items((*args)[0]);
  const std::vector<Node*>* axes = sequence_items((*args)[1]);
  if (!blocks || !axes || axes->size() != 2) return std::nullopt;

  auto columns = pandas_index(renderer, (*axes)[0], depth + 2, TimeStyle::PandasCell);
  auto rows = pandas_index(renderer, (*axes)[1], depth + 2, TimeStyle::PandasCell);
  if (!columns || !rows) return std::nullopt;
  const size_t nrows = rows->labels.size();

  struct Column {
    PandasValues* block = nullptr;
    size_t within = 0;  // which of the block's columns
  };
  std::vector<PandasValues> values;
  values.reserve(blocks->size());  // Column keeps pointers into it
  std::vector<Column> by_position(columns->labels.size());
  for (const Node* block : *blocks) {
    if (callable_name(block) != "pandas._libs.internals._unpickle_block") return std::nullopt;
    const std::vector<Node*>* parts = sequence_items(block->call->args);
    if (!parts || parts->size() != 3) return std::nullopt;
    auto cells = pandas_values(renderer, (*parts)[0], depth + 3, TimeStyle::PandasCell);
    auto positions = placement((*parts)[1], by_position.size() + 1);
    if (!cells || !positions || cells->rows != nrows || cells->columns != positions->size()) return std::nullopt;
    values.push_back(std::move(*cells));
    for (size_t k = 0; k < positions->size(); ++k) {
      int64_t at = (*positions)[k];
      if (at < 0 || static_cast<size_t>(at) >= by_position.size() || by_position[at].block) return std::nullopt;
      by_position[at] = Column{&values.back(), k};
    }
  }
  Json dtypes = Json::array();
  for (const Column& column : by_position) {
    if (!column.block) return std::nullopt;  // a column no block holds
    dtypes.push_back(column.block->dtype);
  }
  Json data = Json::array();
  for (size_t r = 0; r < nrows; ++r) {
    Json row = Json::array();
    for (const Column& column : by_position) row.push_back(std::move(column.block->cells[column.within * nrows + r]));
    data.push_back(std::move(row));
  }
  Json out = Json::object();
  out["columns"] = labels_json(columns->labels);
  out["index"] = labels_json(rows->labels);
  out["data"] = std::move(data);
  out["dtypes"] = std::move(dtypes);
  return Json{{"$dataframe", std::move(out)}};
}

std::optional<Json> render_series(Renderer& renderer, Node* node, size_t depth) {
  const Node* state = node->call->state;
  const Node* manager = dict_get(state, "_mgr");
  if (!manager) manager = dict_get(state, "_data");
  if (callable_name(manager) != "pandas.core.internals.managers.SingleBlockManager") return std::nullopt;
  // SingleBlockManager state: (axes, [values], [items], {"0.14.1": ...}).
  const std::vector<Node*>* parts = sequence_items(manager->call->state);
  const std::vector<Node*>* axes = parts && parts->size() >= 2 ? sequence_items((*parts)[0]) : nullptr;
  const std::vector<Node*>* blocks = parts && parts->size() >= 2 ? sequence_items((*parts)[1]) : nullptr;
  if (!axes || axes->size() != 1 || !blocks || blocks->size() != 1) return std::nullopt;
  auto index = pandas_index(renderer, (*axes)[0], depth + 2, TimeStyle::PandasLabel);
  auto cells = pandas_values(renderer, (*blocks)[0], depth + 2, TimeStyle::PandasLabel);
  if (!index || !cells || cells->columns != 1 || cells->rows != index->labels.size()) return std::nullopt;
  const Node* name = dict_get(state, "name");
  Json out = Json::object();
  out["name"] = name ? renderer.render(const_cast<Node*>(name), depth + 2) : Json(nullptr);
  out["index"] = labels_json(index->labels);
  out["data"] = labels_json(cells->cells);
  out["dtype"] = std::move(cells->dtype);
  return Json{{"$series", std::move(out)}};
}

}  // namespace

std::optional<Json> render_pandas_call(Renderer& renderer, Node* node, size_t depth) {
  const std::string name = callable_name(node);
  if (!name.starts_with("pandas.")) return std::nullopt;
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (name == "pandas.core.frame.DataFrame") return render_dataframe(renderer, node, depth);
  if (name == "pandas.core.series.Series") return render_series(renderer, node, depth);
  if (name == "pandas.core.indexes.base._new_Index" || name == "pandas.core.indexes.datetimes._new_DatetimeIndex") {
    auto index = pandas_index(renderer, node, depth + 1, TimeStyle::PandasLabel);
    if (!index) return std::nullopt;
    Json out = Json::object();
    out["name"] = std::move(index->name);
    out["data"] = labels_json(index->labels);
    out["dtype"] = std::move(index->dtype);
    return Json{{"$index", std::move(out)}};
  }
  if (name == "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked" && args && !args->empty() &&
      (*args)[0]->is_global("pandas.core.arrays.categorical", "Categorical")) {
    auto values = pandas_values(renderer, node, depth + 1, TimeStyle::PandasLabel);
    if (!values) return std::nullopt;
    return labels_json(values->cells);
  }
  if (name == "pandas._libs.tslibs.nattype.__nat_unpickle") return Json("NaT");
  // _unpickle_timestamp(value, freq, tz, reso) with reso 10 (ns) in pandas 1.5; older ones omit it.
  if (name == "pandas._libs.tslibs.timestamps._unpickle_timestamp" && args && args->size() >= 3 &&
      (args->size() < 4 || int_value((*args)[3]) == 10)) {
    auto ns = int_value((*args)[0]);
    if (!ns) return std::nullopt;
    if ((*args)[2]->kind == Kind::None) return timestamp_iso(*ns);
    auto offset = tz_offset_seconds((*args)[2]);
    if (!offset) return std::nullopt;
    return timestamp_iso(*ns, true, *offset);
  }
  if (name == "pandas._libs.tslibs.timedeltas._timedelta_unpickle" && args && !args->empty() &&
      (args->size() < 2 || int_value((*args)[1]) == 10)) {
    auto ns = int_value((*args)[0]);
    if (!ns) return std::nullopt;
    return Json{{"$timedelta_seconds", pandas_total_seconds(*ns)}};
  }
  return std::nullopt;
}

}  // namespace mfsql::pickle
