#include "storegen/py_value.hpp"

namespace mfsql::storegen {

namespace {
std::shared_ptr<PyValue> make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}
}  // namespace

PyRef py_none() {
  static const PyRef none = make(PyValue::Kind::None);
  return none;
}

PyRef py_bool(bool b) {
  auto v = make(PyValue::Kind::Bool);
  v->boolean = b;
  return v;
}

PyRef py_int(int64_t i) {
  auto v = make(PyValue::Kind::Int);
  v->integer = i;
  return v;
}

PyRef py_float(double f) {
  auto v = make(PyValue::Kind::Float);
  v->real = f;
  return v;
}

PyRef py_str(std::string s) {
  auto v = make(PyValue::Kind::Str);
  v->text = std::move(s);
  return v;
}

PyRef py_bytes(std::string s) {
  auto v = make(PyValue::Kind::Bytes);
  v->text = std::move(s);
  return v;
}

PyRef py_list(std::vector<PyRef> items) {
  auto v = make(PyValue::Kind::List);
  v->items = std::move(items);
  return v;
}

PyRef py_tuple(std::vector<PyRef> items) {
  auto v = make(PyValue::Kind::Tuple);
  v->items = std::move(items);
  return v;
}

PyRef py_dict(std::vector<std::pair<std::string, PyRef>> items) {
  auto v = make(PyValue::Kind::Dict);
  v->items.reserve(items.size() * 2);
  for (auto& [key, value] : items) {
    v->items.push_back(py_str(std::move(key)));
    v->items.push_back(std::move(value));
  }
  return v;
}

PyRef py_dict_any(std::vector<std::pair<PyRef, PyRef>> items) {
  auto v = make(PyValue::Kind::Dict);
  v->items.reserve(items.size() * 2);
  for (auto& [key, value] : items) {
    v->items.push_back(std::move(key));
    v->items.push_back(std::move(value));
  }
  return v;
}

PyRef py_global(std::string module, std::string qualname) {
  auto v = make(PyValue::Kind::Global);
  v->text = std::move(module);
  v->name = std::move(qualname);
  return v;
}

PyRef py_newobj(PyRef cls, PyRef args_tuple) {
  auto v = make(PyValue::Kind::NewObj);
  v->items = {std::move(cls), std::move(args_tuple)};
  return v;
}

PyRef py_reduce(PyRef callable, PyRef args_tuple, PyRef state) {
  auto v = make(PyValue::Kind::Reduce);
  v->items = {std::move(callable), std::move(args_tuple)};
  if (state) v->items.push_back(std::move(state));
  return v;
}

std::vector<PyRef> py_str_list(const std::vector<std::string>& items) {
  std::vector<PyRef> out;
  out.reserve(items.size());
  for (const auto& s : items) out.push_back(py_str(s));
  return out;
}

std::string python_type_repr(const PyValue& value) {
  auto cls = [](const char* name) { return std::string("<class '") + name + "'>"; };
  switch (value.kind) {
    case PyValue::Kind::None: return cls("NoneType");
    case PyValue::Kind::Bool: return cls("bool");
    case PyValue::Kind::Int: return cls("int");
    case PyValue::Kind::Float: return cls("float");
    case PyValue::Kind::Str: return cls("str");
    case PyValue::Kind::Bytes: return cls("bytes");
    case PyValue::Kind::List: return cls("list");
    case PyValue::Kind::Tuple: return cls("tuple");
    case PyValue::Kind::Dict: return cls("dict");
    case PyValue::Kind::Global: return cls("type");
    case PyValue::Kind::NewObj:
    case PyValue::Kind::Reduce: {
      const PyValue& maker = *value.items.at(0);
      return "<class '" + maker.text + "." + maker.name + "'>";
    }
  }
  return cls("object");
}

}  // namespace mfsql::storegen
