// The pickle virtual machine (CPython's Lib/pickle.py `_Unpickler`), restricted to protocols 2-4
// and to building an inert graph: every opcode that would call Python code records the call.
#include <bit>
#include <cstdio>

#include "decode/pickle_graph.hpp"

namespace mfsql::pickle {

void fail(uint64_t offset, const std::string& what) {
  throw UnpickleError("Cannot decode the pickle: " + what + " (at byte offset " + std::to_string(offset) +
                      ").");
}

Node* Graph::make(Kind kind, uint64_t offset) {
  if (nodes_.size() >= max_objects_)
    fail(offset, "it holds more than " + std::to_string(max_objects_) + " objects, the configured limit");
  Node& node = nodes_.emplace_back();
  node.kind = kind;
  node.offset = offset;
  return &node;
}

namespace {

// Python 3 renames some protocol-2 names when it reads them (Lib/_compat_pickle.py); these are
// the ones a Python-2-era writer of plain data could produce.
void modernise_global_name(std::string& module, std::string& name) {
  if (module == "__builtin__" || module == "exceptions") module = "builtins";
  else if (module == "copy_reg") module = "copyreg";
  if (module == "builtins") {
    if (name == "unicode") name = "str";
    else if (name == "xrange") name = "range";
    else if (name == "long") name = "int";
  }
}

const char* rejected_opcode_reason(uint8_t op) {
  switch (op) {
    case 'I': case 'L': case 'F': case 'S': case 'V': case 'g': case 'p': case 'i': case 'o':
      return "it uses a protocol 0/1 text opcode, which this decoder does not accept";
    case 'P': case 'Q':
      return "it uses a persistent id (PERSID/BINPERSID), which needs the writer's own loader";
    case 0x82: case 0x83: case 0x84:
      return "it uses the extension registry (EXT1/EXT2/EXT4), which is not supported";
    case 0x96: case 0x97: case 0x98:
      return "it uses a protocol 5 buffer opcode, which is not supported";
    default:
      return nullptr;
  }
}

class Machine {
 public:
  Machine(std::string_view input, const UnpickleLimits& limits, Graph& graph)
      : in_(input), limits_(limits), graph_(graph) {}

  Node* run() {
    if (in_.size() > limits_.max_bytes)
      fail(0, "it is " + std::to_string(in_.size()) + " bytes long, more than the limit of " +
                  std::to_string(limits_.max_bytes));
    if (in_.empty()) fail(0, "it is empty");
    if (static_cast<uint8_t>(in_[0]) != 0x80)
      fail(0, "it does not start with the PROTO opcode, so it is not a protocol 2-4 pickle");
    while (true) {
      op_at_ = pos_;
      uint8_t op = read_u8();
      if (op == '.') {
        if (stack_.empty()) fail(op_at_, "STOP found an empty stack");
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  // ---- reading ----
  void need(uint64_t n) {
    if (n > in_.size() - pos_)
      fail(op_at_, "the data ends early: " + std::to_string(n) + " more bytes were needed at byte " +
                       std::to_string(pos_) + " of " + std::to_string(in_.size()));
  }
  std::string_view read_bytes(uint64_t n) {
    need(n);
    std::string_view out = in_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t read_le(int width) {
    std::string_view b = read_bytes(width);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  uint8_t read_u8() { return static_cast<uint8_t>(read_le(1)); }
  std::string read_line() {
    size_t end = in_.find('\n', pos_);
    if (end == std::string_view::npos) fail(op_at_, "a GLOBAL name is not terminated by a newline");
    std::string line(in_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return line;
  }
  // Lengths of LONG4 and BINSTRING are signed 32-bit in CPython; a negative one is corrupt.
  uint64_t read_length(int width, const char* what, bool is_signed = false) {
    uint64_t n = read_le(width);
    if (is_signed && (n & 0x80000000u)) fail(op_at_, std::string(what) + " has a negative length");
    if (n > in_.size() - pos_)
      fail(op_at_, std::string(what) + " claims " + std::to_string(n) + " bytes but only " +
                       std::to_string(in_.size() - pos_) + " remain");
    return n;
  }

  // ---- stack ----
  Node* make(Kind k) { return graph_.make(k, op_at_); }
  void push(Node* n) { stack_.push_back(n); }
  Node* pop(const char* opname) {
    if (stack_.size() <= floor()) fail(op_at_, std::string(opname) + " found no object on the stack");
    Node* n = stack_.back();
    stack_.pop_back();
    return n;
  }
  Node* top(const char* opname) {
    if (stack_.size() <= floor()) fail(op_at_, std::string(opname) + " found no object on the stack");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Node*> pop_mark(const char* opname) {
    if (marks_.empty()) fail(op_at_, std::string(opname) + " found no MARK on the stack");
    size_t start = marks_.back();
    marks_.pop_back();
    std::vector<Node*> items(stack_.begin() + static_cast<ptrdiff_t>(start), stack_.end());
    stack_.resize(start);
    return items;
  }
  Node* singleton(Node*& slot, Kind k, int64_t v) {
    if (!slot) {
      slot = make(k);
      slot->integer = v;
    }
    return slot;
  }

  // ---- memo ----
  void memo_put(uint64_t index) {
    if (index >= limits_.max_memo)
      fail(op_at_, "memo index " + std::to_string(index) + " exceeds the limit of " +
                       std::to_string(limits_.max_memo) + " entries");
    if (index >= memo_.size()) memo_.resize(index + 1, nullptr);
    memo_[index] = top("a memo store");
  }
  void memo_get(uint64_t index) {
    if (index >= memo_.size() || memo_[index] == nullptr)
      fail(op_at_, "memo index " + std::to_string(index) + " is read but was never stored");
    push(memo_[index]);
  }

  // ---- values ----
  void push_int(int64_t v) {
    Node* n = make(Kind::Int);
    n->integer = v;
    push(n);
  }
  void push_long(std::string_view le) {
    if (le.size() <= 8) {
      uint64_t v = 0;
      for (size_t i = le.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(le[i]);
      if (!le.empty() && (static_cast<uint8_t>(le.back()) & 0x80) && le.size() < 8)
        v |= ~uint64_t{0} << (8 * le.size());  // sign-extend
      push_int(static_cast<int64_t>(v));
      return;
    }
    Node* n = make(Kind::BigInt);
    n->text = le;
    push(n);
  }
  void push_text(Kind k, std::string_view bytes) {
    Node* n = make(k);
    n->text = bytes;
    push(n);
  }
  // Python 2 `str`: Python 3 reads it as ASCII text by default; other bytes stay bytes.
  void push_py2_string(std::string_view bytes) {
    bool ascii = true;
    for (char c : bytes) ascii = ascii && static_cast<uint8_t>(c) < 0x80;
    push_text(ascii ? Kind::Str : Kind::Bytes, bytes);
  }
  void push_container(Kind k, std::vector<Node*> items) {
    Node* n = make(k);
    n->items = std::move(items);
    push(n);
  }
  void push_global(std::string module, std::string name) {
    modernise_global_name(module, name);
    Node* n = make(Kind::Global);
    n->integer = static_cast<int64_t>(module.size());
    n->text = module + "." + name;
    push(n);
  }
  void push_call(Node* callable, Node* args, Node* kwargs, bool via_newobj) {
    Node* n = make(Kind::Call);
    n->call = std::make_unique<CallParts>();
    n->call->callable = callable;
    n->call->args = args;
    n->call->kwargs = kwargs;
    n->call->via_newobj = via_newobj;
    push(n);
  }

  // ---- mutation of objects already on the stack ----
  void append_items(Node* target, std::vector<Node*> items, const char* opname) {
    std::vector<Node*>* dest = nullptr;
    if (target->kind == Kind::List) dest = &target->items;
    else if (target->kind == Kind::Call) dest = &target->call->items;
    else fail(op_at_, std::string(opname) + " adds to something that is not a list");
    dest->insert(dest->end(), items.begin(), items.end());
  }
  void add_set_items(Node* target, std::vector<Node*> items) {
    std::vector<Node*>* dest = nullptr;
    if (target->kind == Kind::Set) dest = &target->items;
    else if (target->kind == Kind::Call) dest = &target->call->items;
    else fail(op_at_, "ADDITEMS adds to something that is not a set");
    dest->insert(dest->end(), items.begin(), items.end());
  }
  void set_items(Node* target, const std::vector<Node*>& flat, const char* opname) {
    if (flat.size() % 2) fail(op_at_, std::string(opname) + " has a key without a value");
    Entries* dest = nullptr;
    if (target->kind == Kind::Dict) dest = &target->entries;
    else if (target->kind == Kind::Call) dest = &target->call->entries;
    else fail(op_at_, std::string(opname) + " stores into something that is not a dict");
    for (size_t i = 0; i < flat.size(); i += 2) dest->emplace_back(flat[i], flat[i + 1]);
  }

  void step(uint8_t op);

  std::string_view in_;
  const UnpickleLimits& limits_;
  Graph& graph_;
  uint64_t pos_ = 0;
  uint64_t op_at_ = 0;
  std::vector<Node*> stack_;
  std::vector<size_t> marks_;
  std::vector<Node*> memo_;
  Node* none_ = nullptr;
  Node* true_ = nullptr;
  Node* false_ = nullptr;
};

void Machine::step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      uint8_t version = read_u8();
      if (version >= 5) fail(op_at_, "it is a protocol " + std::to_string(version) + " pickle; only 2 to 4 are supported");
      if (version < 2) fail(op_at_, "it declares protocol " + std::to_string(version) + "; only 2 to 4 are supported");
      return;
    }
    case 0x95: {  // FRAME: only a hint for buffering readers
      uint64_t length = read_le(8);
      if (length > in_.size() - pos_)
        fail(op_at_, "a FRAME of " + std::to_string(length) + " bytes runs past the end of the data");
      return;
    }
    case '(': marks_.push_back(stack_.size()); return;
    case '1': pop_mark("POP_MARK"); return;
    case '0':
      if (stack_.size() > floor()) stack_.pop_back();
      else pop_mark("POP");
      return;
    case '2': push(top("DUP")); return;
    case 0x94: memo_put(memo_.size()); return;
    case 'q': memo_put(read_le(1)); return;
    case 'r': memo_put(read_le(4)); return;
    case 'h': memo_get(read_le(1)); return;
    case 'j': memo_get(read_le(4)); return;
    case 'N': push(singleton(none_, Kind::None, 0)); return;
    case 0x88: push(singleton(true_, Kind::Bool, 1)); return;
    case 0x89: push(singleton(false_, Kind::Bool, 0)); return;
    case 'K': push_int(static_cast<int64_t>(read_le(1))); return;
    case 'M': push_int(static_cast<int64_t>(read_le(2))); return;
    case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(read_le(4)))); return;
    case 0x8a: push_long(read_bytes(read_length(1, "LONG1"))); return;
    case 0x8b: push_long(read_bytes(read_length(4, "LONG4", true))); return;
    case 'G': {  // big-endian IEEE double
      std::string_view b = read_bytes(8);
      uint64_t bits = 0;
      for (char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);
      Node* n = make(Kind::Float);
      n->real = std::bit_cast<double>(bits);
      push(n);
      return;
    }
    case 0x8c: push_text(Kind::Str, valid_utf8(read_bytes(read_length(1, "SHORT_BINUNICODE")))); return;
    case 'X': push_text(Kind::Str, valid_utf8(read_bytes(read_length(4, "BINUNICODE")))); return;
    case 0x8d: push_text(Kind::Str, valid_utf8(read_bytes(read_length(8, "BINUNICODE8")))); return;
    case 'C': push_text(Kind::Bytes, read_bytes(read_length(1, "SHORT_BINBYTES"))); return;
    case 'B': push_text(Kind::Bytes, read_bytes(read_length(4, "BINBYTES"))); return;
    case 0x8e: push_text(Kind::Bytes, read_bytes(read_length(8, "BINBYTES8"))); return;
    case 'U': push_py2_string(read_bytes(read_length(1, "SHORT_BINSTRING"))); return;
    case 'T': push_py2_string(read_bytes(read_length(4, "BINSTRING", true))); return;
    case ']': push_container(Kind::List, {}); return;
    case 'l': push_container(Kind::List, pop_mark("LIST")); return;
    case 'a': {
      Node* item = pop("APPEND");
      append_items(top("APPEND"), {item}, "APPEND");
      return;
    }
    case 'e': {
      std::vector<Node*> items = pop_mark("APPENDS");
      append_items(top("APPENDS"), std::move(items), "APPENDS");
      return;
    }
    case ')': push_container(Kind::Tuple, {}); return;
    case 't': push_container(Kind::Tuple, pop_mark("TUPLE")); return;
    case 0x85: case 0x86: case 0x87: {
      size_t count = op - 0x84u;
      std::vector<Node*> items(count);
      for (size_t i = count; i-- > 0;) items[i] = pop("TUPLEn");
      push_container(Kind::Tuple, std::move(items));
      return;
    }
    case '}': push_container(Kind::Dict, {}); return;
    case 'd': {
      std::vector<Node*> flat = pop_mark("DICT");
      push_container(Kind::Dict, {});
      set_items(stack_.back(), flat, "DICT");
      return;
    }
    case 's': {
      Node* value = pop("SETITEM");
      Node* key = pop("SETITEM");
      set_items(top("SETITEM"), {key, value}, "SETITEM");
      return;
    }
    case 'u': {
      std::vector<Node*> flat = pop_mark("SETITEMS");
      set_items(top("SETITEMS"), flat, "SETITEMS");
      return;
    }
    case 0x8f: push_container(Kind::Set, {}); return;
    case 0x90: {
      std::vector<Node*> items = pop_mark("ADDITEMS");
      add_set_items(top("ADDITEMS"), std::move(items));
      return;
    }
    case 0x91: push_container(Kind::FrozenSet, pop_mark("FROZENSET")); return;
    case 'c': {
      std::string module = valid_utf8(read_line());
      std::string name = valid_utf8(read_line());
      push_global(std::move(module), std::move(name));
      return;
    }
    case 0x93: {
      Node* name = pop("STACK_GLOBAL");
      Node* module = pop("STACK_GLOBAL");
      if (name->kind != Kind::Str || module->kind != Kind::Str)
        fail(op_at_, "STACK_GLOBAL needs two strings");
      push_global(module->text, name->text);
      return;
    }
    case 'R': {
      Node* args = pop("REDUCE");
      Node* callable = pop("REDUCE");
      push_call(callable, args, nullptr, false);
      return;
    }
    case 0x81: {
      Node* args = pop("NEWOBJ");
      Node* cls = pop("NEWOBJ");
      push_call(cls, args, nullptr, true);
      return;
    }
    case 0x92: {
      Node* kwargs = pop("NEWOBJ_EX");
      Node* args = pop("NEWOBJ_EX");
      Node* cls = pop("NEWOBJ_EX");
      push_call(cls, args, kwargs, true);
      return;
    }
    case 'b': {
      Node* state = pop("BUILD");
      Node* target = top("BUILD");
      if (target->kind != Kind::Call) fail(op_at_, "BUILD sets the state of something that is not an object");
      target->call->state = state;
      return;
    }
    default:
      break;
  }
  if (const char* reason = rejected_opcode_reason(op)) fail(op_at_, reason);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", op);
  fail(op_at_, std::string("it contains the unknown opcode ") + hex);
}

}  // namespace

std::unique_ptr<Graph> decode_pickle(std::string_view pickle, const UnpickleLimits& limits) {
  auto graph = std::make_unique<Graph>(limits.max_objects);
  Machine machine(pickle, limits, *graph);
  graph->root = machine.run();
  return graph;
}

}  // namespace mfsql::pickle
