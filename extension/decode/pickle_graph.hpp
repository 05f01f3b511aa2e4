#pragma once
// The inert object graph that the pickle machine builds. Nothing here runs Python code: a
// "call" (REDUCE, NEWOBJ) is only recorded, and the renderer decides what it means by name.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "decode/pickle.hpp"

namespace mfsql::pickle {

enum class Kind : uint8_t {
  None, Bool, Int, BigInt, Float, Str, Bytes,
  List, Tuple, Dict, Set, FrozenSet,
  Global,  // a module attribute (class or function) referenced by GLOBAL / STACK_GLOBAL
  Call,    // REDUCE / NEWOBJ / NEWOBJ_EX of some callable, plus what BUILD/APPEND/SETITEM added
};

struct Node;
using Entries = std::vector<std::pair<Node*, Node*>>;

// What a Call recorded. Python would have run the callable; we keep its ingredients instead.
struct CallParts {
  Node* callable = nullptr;    // usually a Global
  Node* args = nullptr;        // usually a Tuple
  Node* kwargs = nullptr;      // NEWOBJ_EX only
  Node* state = nullptr;       // the argument of BUILD (last one wins)
  bool via_newobj = false;     // cls.__new__(cls, *args) rather than callable(*args)
  std::vector<Node*> items;    // APPEND(S) on the result (list subclasses)
  Entries entries;             // SETITEM(S) on the result (OrderedDict, defaultdict, ...)
};

struct Node {
  Kind kind = Kind::None;
  bool being_rendered = false;  // set while the renderer is inside it, to spot cycles
  uint64_t offset = 0;          // where in the pickle it was made, for error messages
  int64_t integer = 0;          // Bool, Int; for Global the length of the module part of `text`;
                                // for Bytes 1 when it is a bytearray
  double real = 0;              // Float
  std::string text;             // Str (UTF-8 as pickled), Bytes, BigInt (LE two's complement),
                                // Global ("module.name")
  std::vector<Node*> items;     // List, Tuple, Set, FrozenSet
  Entries entries;              // Dict
  std::unique_ptr<CallParts> call;

  std::string_view module() const { return std::string_view(text).substr(0, static_cast<size_t>(integer)); }
  std::string_view name() const { return std::string_view(text).substr(static_cast<size_t>(integer) + 1); }
  const std::string& qualified_name() const { return text; }
  bool is_global(std::string_view mod, std::string_view nm) const {
    return kind == Kind::Global && module() == mod && name() == nm;
  }
};

// Owns every node; a pickle's memo and containers only hold pointers into it.
class Graph {
 public:
  explicit Graph(size_t max_objects) : max_objects_(max_objects) {}
  Node* make(Kind kind, uint64_t offset);
  Node* root = nullptr;

 private:
  std::deque<Node> nodes_;  // a deque never moves its elements, so pointers stay valid
  size_t max_objects_;
};

// Runs the opcodes of `pickle` and returns the graph whose root is the pickled value.
std::unique_ptr<Graph> decode_pickle(std::string_view pickle, const UnpickleLimits& limits);

// Little-endian two's-complement integer (as LONG1/LONG4 carry it) to decimal digits with sign.
std::string twos_complement_to_decimal(std::string_view little_endian);
// The same integer's magnitude as lowercase hex without prefix, and its sign.
std::string twos_complement_to_hex(std::string_view little_endian, bool* negative);

// The arguments of protocol 0/1 text opcodes (pickle_textops.cpp). An int is `small` when it
// fits in int64, else `big` holds it as LONG1 would (little-endian two's complement).
struct TextInt {
  bool fits = true;
  int64_t small = 0;
  std::string big;
};
bool parse_text_int(std::string_view text, TextInt* out);
bool parse_text_float(std::string_view text, double* out);
std::string escape_decode(std::string_view text, uint64_t at);               // STRING
std::string raw_unicode_escape_decode(std::string_view text, uint64_t at);  // UNICODE

std::string base64_encode(std::string_view bytes);
// Appends the UTF-8 of one code point; a lone surrogate (which UTF-8 cannot hold) becomes U+FFFD.
void append_utf8(std::string& out, uint32_t code_point);
// `text` with every byte sequence that is not valid UTF-8 (including the surrogates Python writes
// with 'surrogatepass') replaced by U+FFFD, so the JSON can always be serialised.
std::string valid_utf8(std::string_view text);

[[noreturn]] void fail(uint64_t offset, const std::string& what);

}  // namespace mfsql::pickle
