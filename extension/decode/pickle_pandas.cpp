// pandas.DataFrame rebuilt from its BlockManager state, as to_dict(orient='split') would show it.
// A DataFrame pickles as NEWOBJ(DataFrame) + BUILD {"_mgr": BlockManager(blocks, axes), ...}:
//   axes   = [columns Index, row Index], each _new_Index(cls, {"data": ndarray | start/stop/step})
//   blocks = _unpickle_block(values ndarray of shape (columns in block, rows), placement, ndim)
// where placement (a slice or an int ndarray) says which columns the block's rows are.
// Shapes not covered here (MultiIndex, extension arrays, datetimes, older layouts) return nullopt
// so the generic {"$object": ...} rendering shows the raw state instead.
#include "decode/pickle_numpy.hpp"

namespace mfsql::pickle {

namespace {

const Node* dict_get(const Node* dict, std::string_view key) {
  if (!dict || dict->kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : dict->entries)
    if (k->kind == Kind::Str && k->text == key) return v;
  return nullptr;
}

// range(start, stop, step) expanded, refusing absurd lengths.
std::optional<std::vector<int64_t>> expand_range(int64_t start, int64_t stop, int64_t step, size_t limit) {
  if (step == 0) return std::nullopt;
  std::vector<int64_t> out;
  for (int64_t v = start; step > 0 ? v < stop : v > stop; v += step) {
    if (out.size() >= limit) return std::nullopt;
    out.push_back(v);
  }
  return out;
}

std::optional<std::vector<Json>> index_labels(Renderer& renderer, const Node* index, size_t depth, size_t limit) {
  if (callable_name(index) != "pandas.core.indexes.base._new_Index") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(index->call->args);
  if (!args || args->size() != 2 || (*args)[0]->kind != Kind::Global) return std::nullopt;
  const Node* cls = (*args)[0];
  const Node* fields = (*args)[1];
  std::vector<Json> labels;
  if (cls->is_global("pandas.core.indexes.range", "RangeIndex")) {
    auto start = int_value(dict_get(fields, "start"));
    auto stop = int_value(dict_get(fields, "stop"));
    auto step = int_value(dict_get(fields, "step"));
    if (!start || !stop || !step) return std::nullopt;
    auto values = expand_range(*start, *stop, *step, limit);
    if (!values) return std::nullopt;
    for (int64_t v : *values) labels.push_back(render_int(v));
    return labels;
  }
  if (cls->module() == "pandas.core.indexes.multi" || cls->module() == "pandas.core.indexes.datetimes")
    return std::nullopt;
  const Node* data = dict_get(fields, "data");
  auto array = data ? numpy_array(data) : std::nullopt;
  if (!array || array->shape.size() != 1) return std::nullopt;
  for (size_t i = 0; i < array->shape[0]; ++i) labels.push_back(numpy_element(renderer, *array, i, depth));
  return labels;
}

// The column positions a block holds: BlockPlacement pickles as a slice or an int64 ndarray.
std::optional<std::vector<int64_t>> placement(const Node* locs, size_t limit) {
  if (callable_name(locs) == "builtins.slice") {
    const std::vector<Node*>* args = sequence_items(locs->call->args);
    if (!args || args->size() != 3) return std::nullopt;
    auto start = int_value((*args)[0]);
    auto stop = int_value((*args)[1]);
    auto step = (*args)[2]->kind == Kind::None ? std::optional<int64_t>(1) : int_value((*args)[2]);
    if (!start || !stop || !step) return std::nullopt;
    return expand_range(*start, *stop, *step, limit);
  }
  auto array = numpy_array(locs);
  if (!array || array->shape.size() != 1 || array->dtype.kind != 'i') return std::nullopt;
  std::vector<int64_t> out;
  static const UnpickleLimits defaults;
  Renderer scratch(defaults);  // integer elements never recurse into the renderer
  for (size_t i = 0; i < array->shape[0]; ++i) {
    Json v = numpy_element(scratch, *array, i, 0);
    if (!v.is_number_integer()) return std::nullopt;
    out.push_back(v.get<int64_t>());
  }
  return out;
}

struct Column {
  const NumpyArray* block = nullptr;
  size_t row_in_block = 0;
};

}  // namespace

std::optional<Json> render_pandas_call(Renderer& renderer, Node* node, size_t depth) {
  if (callable_name(node) != "pandas.core.frame.DataFrame") return std::nullopt;
  const Node* state = node->call->state;
  const Node* manager = dict_get(state, "_mgr");
  if (!manager) manager = dict_get(state, "_data");  // pandas < 1.1 named it _data
  if (callable_name(manager) != "pandas.core.internals.managers.BlockManager") return std::nullopt;
  const std::vector<Node*>* args = sequence_items(manager->call->args);
  if (!args || args->size() != 2) return std::nullopt;
  const std::vector<Node*>* blocks = sequence_items((*args)[0]);
  const std::vector<Node*>* axes = sequence_items((*args)[1]);
  if (!blocks || !axes || axes->size() != 2) return std::nullopt;

  const size_t limit = renderer.remaining();
  auto columns = index_labels(renderer, (*axes)[0], depth + 2, limit);
  auto rows = index_labels(renderer, (*axes)[1], depth + 2, limit);
  if (!columns || !rows) return std::nullopt;

  std::vector<NumpyArray> arrays;
  arrays.reserve(blocks->size());  // Column keeps pointers into it
  std::vector<Column> by_position(columns->size());
  for (const Node* block : *blocks) {
    if (callable_name(block) != "pandas._libs.internals._unpickle_block") return std::nullopt;
    const std::vector<Node*>* parts = sequence_items(block->call->args);
    if (!parts || parts->size() != 3) return std::nullopt;
    auto values = numpy_array((*parts)[0]);
    auto positions = placement((*parts)[1], columns->size() + 1);
    if (!values || !positions || values->shape.size() != 2 || values->shape[1] != rows->size() ||
        values->shape[0] != positions->size())
      return std::nullopt;
    arrays.push_back(std::move(*values));
    for (size_t k = 0; k < positions->size(); ++k) {
      int64_t at = (*positions)[k];
      if (at < 0 || static_cast<size_t>(at) >= by_position.size() || by_position[at].block) return std::nullopt;
      by_position[at] = Column{&arrays.back(), k};
    }
  }
  Json dtypes = Json::array();
  for (const Column& column : by_position) {
    if (!column.block) return std::nullopt;  // a column no block holds
    dtypes.push_back(column.block->dtype.name);
  }
  renderer.charge(columns->size() * rows->size(), node);
  Json data = Json::array();
  for (size_t r = 0; r < rows->size(); ++r) {
    Json row = Json::array();
    for (const Column& column : by_position)
      row.push_back(numpy_element(renderer, *column.block, column.row_in_block * rows->size() + r, depth + 3));
    data.push_back(std::move(row));
  }
  Json out = Json::object();
  out["columns"] = std::move(*columns);
  out["index"] = std::move(*rows);
  out["data"] = std::move(data);
  out["dtypes"] = std::move(dtypes);
  return Json{{"$dataframe", std::move(out)}};
}

}  // namespace mfsql::pickle
