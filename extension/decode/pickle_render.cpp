// The core of the renderer: plain values, containers, and the generic object fallback.
#include "decode/pickle_render.hpp"

#include <algorithm>
#include <cmath>

namespace mfsql::pickle {

namespace {

constexpr int64_t kMaxExactInt = int64_t{1} << 53;  // beyond this the oracle writes a string
constexpr size_t kMaxBigIntBytes = 16 * 1024;      // decimal conversion is quadratic

Json render_big_int(const Node* node) {
  if (node->text.size() > kMaxBigIntBytes) {
    // Python itself refuses str() of ints this long (sys.int_info.str_digits_check_threshold),
    // so there is no oracle form to follow; hex is linear to produce and still exact.
    bool negative = false;
    std::string hex = twos_complement_to_hex(node->text, &negative);
    return Json{{"$int_hex", (negative ? "-0x" : "0x") + hex}};
  }
  std::string digits = twos_complement_to_decimal(node->text);
  // A non-minimal encoding may still hold a small number.
  if (digits.size() <= 17) {
    int64_t v = std::stoll(digits);
    if (v >= -kMaxExactInt && v <= kMaxExactInt) return v;
  }
  return digits;
}

}  // namespace

Json render_int(int64_t value) {
  if (value >= -kMaxExactInt && value <= kMaxExactInt) return value;
  return std::to_string(value);
}

Json render_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  return value;
}

Json bytes_json(std::string_view bytes) { return Json{{"$bytes", base64_encode(bytes)}}; }

void Renderer::charge(size_t n, const Node* at) {
  rendered_ += n;
  if (rendered_ > limits_.max_rendered)
    fail(at ? at->offset : 0, "its rendering grows past " + std::to_string(limits_.max_rendered) +
                         " JSON values (shared references are repeated at each use)");
}

void Renderer::check_depth(size_t depth, const Node* at) const {
  if (depth > limits_.max_depth)
    fail(at->offset, "values nest deeper than " + std::to_string(limits_.max_depth) + " levels");
}

Json Renderer::render(Node* node, size_t depth) {
  charge(1, node);
  switch (node->kind) {
    case Kind::None: return nullptr;
    case Kind::Bool: return node->integer != 0;
    case Kind::Int: return render_int(node->integer);
    case Kind::BigInt: return render_big_int(node);
    case Kind::Float: return render_float(node->real);
    case Kind::Str: return node->text;
    case Kind::Bytes: return bytes_json(node->text);
    case Kind::Global:
      // pd.NA pickles as a reference to the singleton; tables.md renders it as null.
      if (node->is_global("pandas._libs.missing", "NA")) return nullptr;
      return Json{{"$global", node->qualified_name()}};
    default: break;
  }
  if (node->being_rendered) return Json{{"$recursion", true}};
  check_depth(depth + 1, node);
  RenderGuard guard(node);
  switch (node->kind) {
    case Kind::List:
    case Kind::Tuple: {
      Json out = Json::array();
      for (Node* item : node->items) out.push_back(render(item, depth + 1));
      return out;
    }
    case Kind::Set:
    case Kind::FrozenSet: return render_sorted_set(node->items, depth + 1);
    case Kind::Dict: return render_dict(node->entries, depth + 1);
    case Kind::Call: return render_call(node, depth + 1);
    default: return nullptr;  // unreachable: every kind is handled above
  }
}

Json Renderer::render_dict(const Entries& entries, size_t depth) {
  bool string_keys = std::all_of(entries.begin(), entries.end(),
                                 [](const auto& e) { return e.first->kind == Kind::Str; });
  if (string_keys) {
    Json out = Json::object();
    // Assigning an existing key keeps its first position, as a Python dict does.
    for (const auto& [key, value] : entries) out[key->text] = render(value, depth);
    return out;
  }
  Json pairs = Json::array();
  for (const auto& [key, value] : entries) {
    charge(1, key);
    pairs.push_back(Json::array({render(key, depth + 1), render(value, depth + 1)}));
  }
  return Json{{"$dict", std::move(pairs)}};
}

Json Renderer::render_sorted_set(const std::vector<Node*>& items, size_t depth) {
  std::vector<std::pair<std::string, Json>> keyed;
  keyed.reserve(items.size());
  for (Node* item : items) {
    Json rendered = render(item, depth);
    std::string key = python_json_dumps(rendered, /*sort_keys=*/true);
    keyed.emplace_back(std::move(key), std::move(rendered));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Json out = Json::array();
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return out;
}

Json Renderer::render_call(Node* node, size_t depth) {
  if (auto known = render_stdlib_call(*this, node, depth)) return std::move(*known);
  if (auto known = render_datetime_call(*this, node, depth)) return std::move(*known);
  if (auto known = render_numpy_call(*this, node, depth)) return std::move(*known);
  if (auto known = render_pandas_call(*this, node, depth)) return std::move(*known);
  return render_generic_call(node, depth);
}

// A class nobody recognised. Its shape in the pickle says what it was: dict-like and list-like
// objects received SETITEM/APPEND, objects with attributes received BUILD, namedtuples were
// made by NEWOBJ from their fields, and enums (Python <= 3.10) by calling the class with a value.
Json Renderer::render_generic_call(Node* node, size_t depth) {
  const CallParts& call = *node->call;
  std::string name = callable_name(node);
  if (name.empty()) name = "?";
  const std::vector<Node*>* args = sequence_items(call.args);
  bool via_newobj = call.via_newobj;
  // copyreg._reconstructor(cls, base, state) is object.__reduce_ex__ below protocol 2: an
  // instance of cls made without arguments.
  if (call.callable->is_global("copyreg", "_reconstructor") && args && !args->empty() &&
      !class_reference_name((*args)[0]).empty()) {
    name = class_reference_name((*args)[0]);
    args = nullptr;
    via_newobj = true;
  }
  if (!call.entries.empty()) return render_dict(call.entries, depth);
  if (!call.items.empty()) {
    Json out = Json::array();
    for (Node* item : call.items) out.push_back(render(item, depth));
    return out;
  }
  Json out = Json{{"$object", name}};
  if (name == "?") out["callable"] = render(call.callable, depth);  // e.g. a method of an object
  if (call.state) {
    Node* state = call.state;
    const std::vector<Node*>* pair = state->kind == Kind::Tuple ? &state->items : nullptr;
    bool dict_and_slots = pair && pair->size() == 2 &&
                          ((*pair)[0]->kind == Kind::Dict || (*pair)[0]->kind == Kind::None) &&
                          ((*pair)[1]->kind == Kind::Dict || (*pair)[1]->kind == Kind::None);
    if (state->kind == Kind::Dict) {
      out["attrs"] = render_dict(state->entries, depth);
    } else if (dict_and_slots) {
      Entries merged;
      for (Node* part : *pair)
        if (part->kind == Kind::Dict) merged.insert(merged.end(), part->entries.begin(), part->entries.end());
      out["attrs"] = render_dict(merged, depth);
    } else {
      out["state"] = render(state, depth);
    }
    // Exceptions pickle their constructor arguments too, but the oracle shows only attributes.
    if (!out.contains("attrs") && args && !args->empty()) out["args"] = render(call.args, depth);
    return out;
  }
  if (via_newobj) {
    if (args && !args->empty()) return render(call.args, depth - 1);  // a namedtuple: its fields
    out["attrs"] = Json::object();
    return out;
  }
  if (args && args->size() == 1 && !name.starts_with("?"))
    return Json{{"$enum", name}, {"value", render((*args)[0], depth)}};
  out["args"] = call.args ? render(call.args, depth) : Json(nullptr);
  return out;
}

// ---- readers ----

std::string class_reference_name(const Node* node, size_t depth) {
  if (!node || depth > 16) return "";
  if (node->kind == Kind::Global) return node->qualified_name();
  // Protocols < 4 name a nested class Outer.Inner as getattr(module.Outer, 'Inner').
  if (node->kind != Kind::Call || !node->call->callable->is_global("builtins", "getattr")) return "";
  const std::vector<Node*>* args = sequence_items(node->call->args);
  if (!args || args->size() != 2 || !str_value((*args)[1])) return "";
  std::string parent = class_reference_name((*args)[0], depth + 1);
  return parent.empty() ? "" : parent + "." + (*args)[1]->text;
}

std::string callable_name(const Node* call) {
  if (!call || call->kind != Kind::Call) return "";
  std::string name = class_reference_name(call->call->callable);
  // copyreg._reconstructor(cls, object, None) is how protocols 0 and 1 make an instance of cls
  // without calling it (what NEWOBJ does from protocol 2 on): name the class.
  if (name == "copyreg._reconstructor") {
    const std::vector<Node*>* args = sequence_items(call->call->args);
    if (args && args->size() == 3 && (*args)[2]->kind == Kind::None) {
      std::string cls = class_reference_name((*args)[0]);
      if (!cls.empty()) return cls;
    }
  }
  return name;
}

const std::vector<Node*>* sequence_items(const Node* node) {
  if (node && (node->kind == Kind::Tuple || node->kind == Kind::List)) return &node->items;
  return nullptr;
}

std::optional<int64_t> int_value(const Node* node) {
  if (node && (node->kind == Kind::Int || node->kind == Kind::Bool)) return node->integer;
  return std::nullopt;
}

std::optional<double> number_value(const Node* node) {
  if (node && node->kind == Kind::Float) return node->real;
  if (auto i = int_value(node)) return static_cast<double>(*i);
  return std::nullopt;
}

const std::string* str_value(const Node* node) {
  return node && node->kind == Kind::Str ? &node->text : nullptr;
}

std::optional<std::string> latin1_encode(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    auto lead = static_cast<uint8_t>(utf8[i]);
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      i += 1;
    } else if ((lead & 0xe0) == 0xc0 && i + 1 < utf8.size()) {
      unsigned cp = ((lead & 0x1fu) << 6) | (static_cast<uint8_t>(utf8[i + 1]) & 0x3fu);
      if (cp > 0xff) return std::nullopt;
      out += static_cast<char>(cp);
      i += 2;
    } else {
      return std::nullopt;  // three- and four-byte sequences are all above U+00FF
    }
  }
  return out;
}

std::optional<std::string> bytes_value(const Node* node) {
  if (!node) return std::nullopt;
  if (node->kind == Kind::Bytes || node->kind == Kind::Str) {
    if (node->kind == Kind::Str)  // a Python 2 str that arrived as ASCII text
      return latin1_encode(node->text);
    return node->text;
  }
  std::string name = callable_name(node);
  const std::vector<Node*>* args = name.empty() ? nullptr : sequence_items(node->call->args);
  if (name == "_codecs.encode" && args && args->size() == 2 && str_value((*args)[0]))
    return latin1_encode((*args)[0]->text);
  if (name == "builtins.bytes" && args && args->empty()) return std::string();  // protocol 2's b''

  return std::nullopt;
}

}  // namespace mfsql::pickle

namespace mfsql {

nlohmann::ordered_json unpickle_to_json(std::string_view pickle, const UnpickleLimits& limits) {
  std::unique_ptr<pickle::Graph> graph = pickle::decode_pickle(pickle, limits);
  pickle::Renderer renderer(limits);
  return renderer.render(graph->root, 0);
}

std::string python_type_from_repr(std::string_view type_repr) {
  // str(type(x)) is "<class 'qualified.name'>"; builtins are printed without their module.
  size_t open = type_repr.find('\'');
  size_t close = type_repr.rfind('\'');
  if (!type_repr.starts_with("<") || open == std::string_view::npos || close <= open)
    return std::string(type_repr);
  std::string_view name = type_repr.substr(open + 1, close - open - 1);
  bool is_class = type_repr.substr(0, open).starts_with("<class");
  if (is_class && name.find('.') == std::string_view::npos) return "builtins." + std::string(name);
  return std::string(name);
}

}  // namespace mfsql
