// Recognisers for builtins and standard-library reconstructors other than datetime.
#include <algorithm>

#include "decode/pickle_render.hpp"

namespace mfsql::pickle {

namespace {

// Decimal digits of an int node (any size), or nullopt for anything else.
std::optional<std::string> decimal_text(const Node* node) {
  if (auto i = int_value(node)) return std::to_string(*i);
  if (node && node->kind == Kind::BigInt) return twos_complement_to_decimal(node->text);
  return std::nullopt;
}

// uuid.UUID keeps only {'int': n} (plus 'is_safe'); str() is its 32 hex digits grouped 8-4-4-4-12.
std::optional<Json> render_uuid(const Node* call) {
  const Node* state = call->call->state;
  if (!state || state->kind != Kind::Dict) return std::nullopt;
  for (const auto& [key, value] : state->entries) {
    if (!str_value(key) || key->text != "int") continue;
    std::string hex;
    if (auto i = int_value(value)) {
      if (*i < 0) return std::nullopt;
      char buf[24];
      std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(*i));
      hex = buf;
    } else if (value->kind == Kind::BigInt) {
      bool negative = false;
      hex = twos_complement_to_hex(value->text, &negative);
      if (negative) return std::nullopt;
    } else {
      return std::nullopt;
    }
    if (hex.size() > 32) return std::nullopt;
    hex.insert(0, 32 - hex.size(), '0');
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
  }
  return std::nullopt;
}

std::string slice_part(const Node* node) {
  if (auto digits = decimal_text(node)) return *digits;
  return "None";
}

bool is_one_of(const std::string& name, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
}

}  // namespace

std::optional<Json> render_stdlib_call(Renderer& renderer, Node* node, size_t depth) {
  const std::string name = callable_name(node);
  if (name.empty()) return std::nullopt;
  const CallParts& call = *node->call;
  const std::vector<Node*>* args = sequence_items(call.args);
  const size_t argc = args ? args->size() : 0;
  auto arg = [&](size_t i) { return (*args)[i]; };

  if (name == "_codecs.encode" || name == "builtins.bytes" || name == "builtins.bytearray") {
    if (argc == 0) return bytes_json("");
    // bytearray(text, 'latin-1') is how protocol 2 writes a bytearray.
    if (argc == 2 && name == "builtins.bytearray" && str_value(arg(0))) {
      if (auto raw = latin1_encode(arg(0)->text)) return bytes_json(*raw);
    }
    if (auto raw = bytes_value(name == "_codecs.encode" ? node : arg(0))) return bytes_json(*raw);
    return std::nullopt;
  }
  if (name == "builtins.set" || name == "builtins.frozenset") {
    if (argc == 0) return renderer.render_sorted_set(call.items, depth);
    if (auto* items = sequence_items(arg(0))) return renderer.render_sorted_set(*items, depth);
    return std::nullopt;
  }
  if (name == "builtins.complex" && argc >= 1 && argc <= 2) {
    Json parts = Json::array();
    for (size_t i = 0; i < 2; ++i) {
      auto v = i < argc ? number_value(arg(i)) : std::optional<double>(0.0);
      if (!v) return std::nullopt;
      parts.push_back(render_float(*v));
    }
    return Json{{"$complex", std::move(parts)}};
  }
  if (name == "builtins.range" && argc == 3) {
    Json parts = Json::array();
    for (size_t i = 0; i < 3; ++i) parts.push_back(renderer.render(arg(i), depth));
    return Json{{"$range", std::move(parts)}};
  }
  if (name == "builtins.slice" && argc == 3)
    return Json{{"$repr", "slice(" + slice_part(arg(0)) + ", " + slice_part(arg(1)) + ", " + slice_part(arg(2)) + ")"}};
  // Python >= 3.11 pickles an enum member as getattr(Class, 'NAME'): the value is not there.
  if (name == "builtins.getattr" && argc == 2 && !class_reference_name(arg(0)).empty() && str_value(arg(1)))
    return Json{{"$enum", class_reference_name(arg(0)) + "." + arg(1)->text}};
  if (name == "decimal.Decimal" && argc == 1 && str_value(arg(0))) return arg(0)->text;
  if (name == "fractions.Fraction") {
    if (argc == 1 && str_value(arg(0))) return arg(0)->text;  // older Pythons pickled str(self)
    if (argc == 2) {
      auto numerator = decimal_text(arg(0));
      auto denominator = decimal_text(arg(1));
      if (numerator && denominator) return *denominator == "1" ? *numerator : *numerator + "/" + *denominator;
    }
    return std::nullopt;
  }
  if (name == "uuid.UUID") return render_uuid(node);
  if (is_one_of(name, {"collections.OrderedDict", "collections.defaultdict"}))
    return renderer.render_dict(call.entries, depth);
  if (name == "collections.Counter" && call.entries.empty() && argc == 1 && arg(0)->kind == Kind::Dict)
    return renderer.render_dict(arg(0)->entries, depth);
  if (name == "collections.deque" && argc >= 1) {
    if (auto* items = sequence_items(arg(0))) {
      Json out = Json::array();
      for (Node* item : *items) out.push_back(renderer.render(item, depth));
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace mfsql::pickle
