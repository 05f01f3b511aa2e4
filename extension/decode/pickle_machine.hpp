#pragma once
// The pickle machine's state and its small helpers, shared by pickle_machine.cpp (the binary
// opcodes) and pickle_textops.cpp (protocol 0/1's text opcodes and protocol 5's buffers).
#include <string>
#include <string_view>
#include <vector>

#include "decode/pickle_graph.hpp"

namespace mfsql::pickle {

// Python 3's names for what a Python-2-era writer called otherwise (Lib/_compat_pickle.py).
void modernise_global_name(std::string& module, std::string& name);

class Machine {
 public:
  Machine(std::string_view input, const UnpickleLimits& limits, Graph& graph)
      : in_(input), limits_(limits), graph_(graph) {}

  Node* run() {
    if (in_.size() > limits_.max_bytes)
      fail(0, "it is " + std::to_string(in_.size()) + " bytes long, more than the limit of " +
                  std::to_string(limits_.max_bytes));
    if (in_.empty()) fail(0, "it is empty");
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
  // The argument of a text opcode: up to the next newline, which is consumed.
  std::string_view read_line(const char* opname) {
    size_t end = in_.find('\n', pos_);
    if (end == std::string_view::npos)
      fail(op_at_, std::string("the argument of ") + opname + " is not terminated by a newline");
    std::string_view line = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }
  uint64_t read_text_index(const char* opname) {
    TextInt v;
    if (!parse_text_int(read_line(opname), &v) || !v.fits || v.small < 0)
      fail(op_at_, std::string(opname) + " needs a memo index");
    return static_cast<uint64_t>(v.small);
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
  void push_text_int(std::string_view text, const char* opname) {
    TextInt v;
    if (!parse_text_int(text, &v)) fail(op_at_, std::string(opname) + " has an argument that is not a whole number");
    if (v.fits) return push_int(v.small);
    Node* n = make(Kind::BigInt);
    n->text = std::move(v.big);
    push(n);
  }
  // INST and OBJ: klass(*args), or klass.__new__(klass) when there are no arguments.
  void push_instance(Node* klass, std::vector<Node*> args) {
    bool bare = args.empty();
    push_container(Kind::Tuple, std::move(args));
    Node* tuple = stack_.back();
    stack_.pop_back();
    push_call(klass, tuple, nullptr, bare);
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
  bool step_text(uint8_t op);  // protocol 0/1 text opcodes, protocol 5 buffers; false if not one

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

}  // namespace mfsql::pickle
