// The pickle virtual machine (CPython's Lib/pickle.py `_Unpickler`) for protocols 0 to 5,
// restricted to building an inert graph: every opcode that would call Python code records the call.
#include <bit>
#include <cstdio>

#include "decode/pickle_machine.hpp"

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

namespace {

const char* rejected_opcode_reason(uint8_t op) {
  switch (op) {
    case 'P': case 'Q':
      return "it uses a persistent id (PERSID/BINPERSID), which needs the writer's own loader";
    case 0x82: case 0x83: case 0x84:
      return "it uses the extension registry (EXT1/EXT2/EXT4), which is not supported";
    case 0x97:
      return "it refers to an out-of-band buffer (protocol 5 NEXT_BUFFER): such data was handed to the "
             "writer's buffer_callback and is not in the pickle's bytes, so it cannot be decoded from them";
    default:
      return nullptr;
  }
}

}  // namespace

void Machine::step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      uint8_t version = read_u8();
      if (version > 5) fail(op_at_, "it is a protocol " + std::to_string(version) + " pickle; only 0 to 5 are supported");
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
      std::string module = valid_utf8(read_line("GLOBAL"));
      std::string name = valid_utf8(read_line("GLOBAL"));
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
      if (step_text(op)) return;
      break;
  }
  if (const char* reason = rejected_opcode_reason(op)) fail(op_at_, reason);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", op);
  fail(op_at_, std::string("it contains the unknown opcode ") + hex);
}

std::unique_ptr<Graph> decode_pickle(std::string_view pickle, const UnpickleLimits& limits) {
  auto graph = std::make_unique<Graph>(limits.max_objects);
  Machine machine(pickle, limits, *graph);
  graph->root = machine.run();
  return graph;
}

}  // namespace mfsql::pickle
