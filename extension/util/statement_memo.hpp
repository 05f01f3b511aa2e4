#pragma once
// Small files read while a statement runs, kept until it ends, so that a join that looks the same
// run up once per outer row reads its file once. "While a statement runs" is "while any cursor of
// the connection is open": SQLite keeps a statement's cursors open from its first step to its
// reset, and the memo is dropped when the last one closes.
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace mfsql {

class StatementMemo {
 public:
  static constexpr size_t kMaxEntryBytes = 64 * 1024;
  static constexpr size_t kMaxTotalBytes = size_t{32} << 20;

  void cursor_opened() {
    std::lock_guard lock(mu_);
    ++open_cursors_;
  }
  void cursor_closed() {
    std::lock_guard lock(mu_);
    if (open_cursors_ > 0 && --open_cursors_ == 0) {
      files_.clear();
      bytes_ = 0;
    }
  }

  // Outer nullopt: not remembered. Inner nullopt: remembered as missing.
  std::optional<std::optional<std::string>> find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = files_.find(key);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& key, const std::optional<std::string>& contents) {
    std::lock_guard lock(mu_);
    size_t size = contents ? contents->size() : 0;
    if (open_cursors_ == 0 || size > kMaxEntryBytes || bytes_ + size > kMaxTotalBytes) return;
    if (files_.emplace(key, contents).second) bytes_ += size + key.size();
  }

 private:
  std::mutex mu_;
  int open_cursors_ = 0;
  size_t bytes_ = 0;
  std::unordered_map<std::string, std::optional<std::string>> files_;
};

}  // namespace mfsql
