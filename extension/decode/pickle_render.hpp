#pragma once
// Rendering of the pickle graph as JSON (the oracle's `rendering` rules). The core walks the graph;
// the recognisers for known reconstructors (standard library, numpy, pandas) live in their own
// files and are tried in turn on every recorded call.
#include <optional>
#include <string>
#include <vector>

#include "decode/pickle_graph.hpp"

namespace mfsql::pickle {

using Json = nlohmann::ordered_json;

class Renderer {
 public:
  explicit Renderer(const UnpickleLimits& limits) : limits_(limits) {}

  // Renders `node` nested `depth` levels deep. Shared nodes are rendered once per use, as Python's
  // json would; a node met again while it is still being rendered is a cycle.
  Json render(Node* node, size_t depth);
  Json render_dict(const Entries& entries, size_t depth);
  Json render_sorted_set(const std::vector<Node*>& items, size_t depth);
  // Charges `n` JSON values against the limit on the rendered size.
  void charge(size_t n, const Node* at);
  // How many more JSON values may be produced: bounds expansions (ranges, arrays) up front.
  size_t remaining() const { return limits_.max_rendered - rendered_; }
  // Fails when `depth` passes the nesting limit.
  void check_depth(size_t depth, const Node* at) const;

 private:
  Json render_call(Node* node, size_t depth);
  Json render_generic_call(Node* node, size_t depth);

  const UnpickleLimits& limits_;
  size_t rendered_ = 0;
};

// Marks `node` as being rendered for the lifetime of the guard (cycle detection).
class RenderGuard {
 public:
  explicit RenderGuard(Node* node) : node_(node) { node_->being_rendered = true; }
  ~RenderGuard() { node_->being_rendered = false; }
  RenderGuard(const RenderGuard&) = delete;
  RenderGuard& operator=(const RenderGuard&) = delete;

 private:
  Node* node_;
};

// ---- small readers used by the recognisers ----
// "module.Qualname" of a reference to a class or function: a global, or getattr(reference, 'name').
std::string class_reference_name(const Node* node, size_t depth = 0);
// The name "module.name" of a call's callable, or "" when it is not such a reference.
std::string callable_name(const Node* call);
// The items of a tuple (or list), or nullptr for anything else.
const std::vector<Node*>* sequence_items(const Node* node);
std::optional<int64_t> int_value(const Node* node);
std::optional<double> number_value(const Node* node);  // ints and floats alike
const std::string* str_value(const Node* node);
// Raw bytes from bytes, an ASCII Python 2 str, or protocol 2's _codecs.encode(text, 'latin1').
std::optional<std::string> bytes_value(const Node* node);
// Each code point of UTF-8 `text` as one byte (Python's text.encode('latin1')); nullopt if one
// does not fit.
std::optional<std::string> latin1_encode(std::string_view utf8);
Json render_int(int64_t value);
Json render_float(double value);
Json bytes_json(std::string_view bytes);

// Recognisers: each returns the rendering when it knows the call, nullopt to let the next try.
std::optional<Json> render_stdlib_call(Renderer& renderer, Node* call, size_t depth);
std::optional<Json> render_datetime_call(Renderer& renderer, Node* call, size_t depth);
std::optional<Json> render_numpy_call(Renderer& renderer, Node* call, size_t depth);
std::optional<Json> render_pandas_call(Renderer& renderer, Node* call, size_t depth);

}  // namespace mfsql::pickle
