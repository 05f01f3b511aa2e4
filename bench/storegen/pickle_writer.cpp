#include "storegen/pickle_writer.hpp"

#include <cstring>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace mfsql::storegen {

namespace {

constexpr size_t kFrameHeader = 9;
constexpr size_t kFrameSizeMin = 4;
constexpr size_t kFrameSizeTarget = 64 * 1024;
constexpr size_t kBatchSize = 1000;
constexpr size_t kNoFrame = static_cast<size_t>(-1);

class Pickler {
 public:
  std::string dump(const PyValue& value) {
    out_.append("\x80\x04", 2);
    framing_ = true;
    save(value);
    write_op('.');
    commit_frame();
    return std::move(out_);
  }

 private:
  // --- output and framing, mirroring _Pickler_Write / _Pickler_CommitFrame ---
  void write(std::string_view bytes) {
    if (framing_ && frame_start_ == kNoFrame) {
      frame_start_ = out_.size();
      out_.append(kFrameHeader, '\0');
    }
    out_.append(bytes);
  }
  void write_op(char op) { write(std::string_view(&op, 1)); }

  void commit_frame() {
    if (frame_start_ == kNoFrame) return;
    size_t length = out_.size() - frame_start_ - kFrameHeader;
    if (length >= kFrameSizeMin) {
      out_[frame_start_] = '\x95';
      for (int i = 0; i < 8; ++i) out_[frame_start_ + 1 + i] = static_cast<char>((uint64_t{length} >> (8 * i)) & 0xff);
    } else {
      out_.erase(frame_start_, kFrameHeader);
    }
    frame_start_ = kNoFrame;
  }

  // Called where CPython's save() calls _Pickler_OpcodeBoundary: before every object.
  void opcode_boundary() {
    if (frame_start_ != kNoFrame && out_.size() - frame_start_ - kFrameHeader >= kFrameSizeTarget) commit_frame();
  }

  // Big payloads bypass the frame (_Pickler_write_bytes).
  void write_payload(std::string_view header, std::string_view data) {
    if (data.size() >= kFrameSizeTarget) {
      commit_frame();
      framing_ = false;
      write(header);
      write(data);
      framing_ = true;
    } else {
      write(header);
      write(data);
    }
  }

  // --- memo ---
  void memoize_new() {
    write_op('\x94');
    ++memo_size_;
  }
  void write_get(uint32_t index) {
    if (index < 256) {
      char op[2] = {'h', static_cast<char>(index)};
      write(std::string_view(op, 2));
    } else {
      char op[5] = {'j'};
      for (int i = 0; i < 4; ++i) op[1 + i] = static_cast<char>((index >> (8 * i)) & 0xff);
      write(std::string_view(op, 5));
    }
  }
  bool save_if_memoized(const std::unordered_map<std::string, uint32_t>& memo, const std::string& key) {
    auto it = memo.find(key);
    if (it == memo.end()) return false;
    write_get(it->second);
    return true;
  }
  bool save_if_memoized(const PyValue* object) {
    auto it = object_memo_.find(object);
    if (it == object_memo_.end()) return false;
    write_get(it->second);
    return true;
  }
  void remember(const PyValue* object) {
    object_memo_.emplace(object, memo_size_);
    memoize_new();
  }

  // --- values ---
  void save(const PyValue& v) {
    opcode_boundary();
    switch (v.kind) {
      case PyValue::Kind::None: return write_op('N');
      case PyValue::Kind::Bool: return write_op(v.boolean ? '\x88' : '\x89');
      case PyValue::Kind::Int: return save_int(v.integer);
      case PyValue::Kind::Float: return save_float(v.real);
      case PyValue::Kind::Str: return save_str(v.text);
      case PyValue::Kind::Bytes: return save_bytes(v);
      case PyValue::Kind::Tuple: return save_tuple(v);
      case PyValue::Kind::List: return save_list(v);
      case PyValue::Kind::Dict: return save_dict(v);
      case PyValue::Kind::Global: return save_global(v);
      case PyValue::Kind::NewObj:
      case PyValue::Kind::Reduce: return save_object(v);
    }
  }

  void save_int(int64_t value) {
    if (value >= INT32_MIN && value <= INT32_MAX) {
      auto u = static_cast<uint32_t>(static_cast<int32_t>(value));
      char data[5] = {0, static_cast<char>(u & 0xff), static_cast<char>((u >> 8) & 0xff),
                      static_cast<char>((u >> 16) & 0xff), static_cast<char>((u >> 24) & 0xff)};
      size_t length;
      if (data[3] != 0 || data[4] != 0) { data[0] = 'J'; length = 5; }
      else if (data[2] != 0) { data[0] = 'M'; length = 3; }
      else { data[0] = 'K'; length = 2; }
      return write(std::string_view(data, length));
    }
    // LONG1: little-endian two's complement, with the one spare byte CPython drops when the
    // sign bit already reads right (only possible for negative values).
    uint64_t magnitude = value < 0 ? uint64_t(0) - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
    int bits = 64 - __builtin_clzll(magnitude);
    size_t nbytes = static_cast<size_t>(bits >> 3) + 1;
    unsigned char bytes[9] = {};
    auto u = static_cast<uint64_t>(value);
    for (size_t i = 0; i < nbytes; ++i) bytes[i] = i < 8 ? static_cast<unsigned char>((u >> (8 * i)) & 0xff)
                                                         : (value < 0 ? 0xff : 0x00);
    if (value < 0 && nbytes > 1 && bytes[nbytes - 1] == 0xff && (bytes[nbytes - 2] & 0x80) != 0) --nbytes;
    std::string op = {'\x8a', static_cast<char>(nbytes)};
    op.append(reinterpret_cast<const char*>(bytes), nbytes);
    write(op);
  }

  void save_float(double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    char data[9] = {'G'};
    for (int i = 0; i < 8; ++i) data[1 + i] = static_cast<char>((bits >> (8 * (7 - i))) & 0xff);
    write(std::string_view(data, 9));
  }

  static std::string length_header(char short_op, char long_op, char huge_op, size_t size) {
    std::string header;
    if (size <= 0xff) {
      header = {short_op, static_cast<char>(size)};
    } else if (size <= 0xffffffffu) {
      header = {long_op};
      for (int i = 0; i < 4; ++i) header.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
    } else {
      header = {huge_op};
      for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((uint64_t{size} >> (8 * i)) & 0xff));
    }
    return header;
  }

  void save_str(const std::string& text) {
    if (save_if_memoized(string_memo_, text)) return;
    write_payload(length_header('\x8c', 'X', '\x8d', text.size()), text);
    string_memo_.emplace(text, memo_size_);
    memoize_new();
  }

  void save_bytes(const PyValue& v) {
    if (save_if_memoized(&v)) return;
    write_payload(length_header('C', 'B', '\x8e', v.text.size()), v.text);
    remember(&v);
  }

  void save_tuple(const PyValue& v) {
    if (v.items.empty()) return write_op(')');
    if (save_if_memoized(&v)) return;
    if (v.items.size() <= 3) {
      for (const auto& item : v.items) save(*item);
      write_op(static_cast<char>('\x85' + (v.items.size() - 1)));
    } else {
      write_op('(');
      for (const auto& item : v.items) save(*item);
      write_op('t');
    }
    remember(&v);
  }

  void save_list(const PyValue& v) {
    if (save_if_memoized(&v)) return;
    write_op(']');
    remember(&v);
    if (v.items.empty()) return;
    if (v.items.size() == 1) {
      save(*v.items[0]);
      return write_op('a');
    }
    size_t total = 0;
    do {
      write_op('(');
      for (size_t batch = 0; total < v.items.size() && batch < kBatchSize; ++batch) save(*v.items[total++]);
      write_op('e');
    } while (total < v.items.size());
  }

  void save_dict(const PyValue& v) {
    if (save_if_memoized(&v)) return;
    write_op('}');
    remember(&v);
    size_t pairs = v.items.size() / 2;
    if (pairs == 0) return;
    if (pairs == 1) {
      save(*v.items[0]);
      save(*v.items[1]);
      return write_op('s');
    }
    size_t next = 0, in_batch;
    do {
      write_op('(');
      for (in_batch = 0; next < pairs && in_batch < kBatchSize; ++in_batch, ++next) {
        save(*v.items[2 * next]);
        save(*v.items[2 * next + 1]);
      }
      write_op('u');
    } while (in_batch == kBatchSize);
  }

  void save_global(const PyValue& v) {
    std::string key = v.text + '\n' + v.name;
    if (save_if_memoized(global_memo_, key)) return;
    // CPython saves the module and name as ordinary objects, each its own opcode boundary.
    opcode_boundary();
    save_str(v.text);
    opcode_boundary();
    save_str(v.name);
    write_op('\x93');
    global_memo_.emplace(std::move(key), memo_size_);
    memoize_new();
  }

  void save_object(const PyValue& v) {
    if (save_if_memoized(&v)) return;
    save(*v.items.at(0));
    save(*v.items.at(1));
    write_op(v.kind == PyValue::Kind::NewObj ? '\x81' : 'R');
    remember(&v);
    if (v.items.size() > 2) {
      save(*v.items[2]);
      write_op('b');
    }
  }

  std::string out_;
  bool framing_ = false;
  size_t frame_start_ = kNoFrame;
  uint32_t memo_size_ = 0;
  std::unordered_map<const PyValue*, uint32_t> object_memo_;
  std::unordered_map<std::string, uint32_t> string_memo_;
  std::unordered_map<std::string, uint32_t> global_memo_;
};

}  // namespace

std::string pickle_dumps(const PyValue& value) { return Pickler().dump(value); }

}  // namespace mfsql::storegen
