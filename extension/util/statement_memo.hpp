#pragma once
// Small files read while a statement runs, kept until it ends, so that a join that looks the same
// run up once per outer row reads its file once. "While a statement runs" is "while any cursor of
// the connection is open": SQLite keeps a statement's cursors open from its first step to its
// reset, and the memo is dropped when the last one closes.
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/file_stat.hpp"
#include "util/path_hash.hpp"

namespace mfsql {

struct DirEntry {
  std::string_view name;  // into the listing's own buffer: one allocation per folder, not per entry
  bool is_dir;
};
// A folder's entries, in directory order; iterate it like a vector of DirEntry.
class Listing {
 public:
  Listing() = default;
  // `names`: NUL-terminated names end to end; `kept`: (offset of a name, is_dir) in order.
  Listing(std::string names, const std::vector<std::pair<size_t, bool>>& kept) : names_(std::move(names)) {
    entries_.reserve(kept.size());
    for (auto [offset, is_dir] : kept) entries_.push_back({std::string_view(names_.data() + offset), is_dir});
  }
  // Names read in place from a buffer `owner` keeps alive (the persistent cache's shard): the
  // NUL-terminated names end to end, `count` of them, `is_dir(k)` for the k-th.
  template <typename IsDir>
  Listing(std::shared_ptr<const void> owner, std::string_view names, size_t count, IsDir is_dir)
      : owner_(std::move(owner)) {
    entries_.reserve(count);
    for (size_t offset = 0, k = 0; k < count && offset < names.size(); ++k) {
      const std::string_view name(names.data() + offset);  // stops at its NUL
      entries_.push_back({name, is_dir(k)});
      offset += name.size() + 1;
    }
  }
  Listing(const Listing&) = delete;
  Listing& operator=(const Listing&) = delete;
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::string names_;
  std::shared_ptr<const void> owner_;  // instead of names_, when the names are someone else's
  std::vector<DirEntry> entries_;
};
using DirListing = std::shared_ptr<const Listing>;

// Listings are kept too: one statement may ask for a task's _meta folder several times (the
// attempt that is done, then its metadata), and a listing costs more than a small file read.
// Those repeats come close together (the same run, the same task), so only the most recent
// listings are kept: a scan of every task then lists 13,000 folders in bounded memory.
class StatementMemo {
 public:
  static constexpr size_t kMaxEntryBytes = 64 * 1024;
  static constexpr size_t kMaxTotalBytes = size_t{32} << 20;
  static constexpr size_t kMaxListings = 256;
  static constexpr size_t kMaxListingEntries = 20000;

  void cursor_opened() {
    std::lock_guard lock(mu_);
    ++open_cursors_;
  }
  void cursor_closed() {
    std::vector<std::function<void()>> ended;
    {
      std::lock_guard lock(mu_);
      if (open_cursors_ == 0 || --open_cursors_ > 0) return;
      for (auto& [owner, fn] : at_end_) ended.push_back(fn);
      // Emptied, not freed: the next statement checks as many folders again, and growing a map
      // to thousands of entries (rehash after rehash) cost more than the checks' lookups. A
      // connection reads few stores (owners); past a handful, they are dropped.
      if (validated_.size() > 4) validated_.clear();
      for (auto& [owner, folders] : validated_) folders.clear();
      files_.clear();
      listings_.clear();
      listing_order_.clear();
      computed_.clear();
      computed_order_.clear();
      bytes_ = 0;
    }
    for (auto& fn : ended) fn();  // outside the lock: it may take a while (cache/cache_file)
  }

  // Called whenever a statement ends, once per `owner` (the remembered store writes itself out).
  void at_statement_end(const void* owner, std::function<void()> fn) {
    std::lock_guard lock(mu_);
    at_end_[owner] = std::move(fn);
  }

  // Folders whose remembered facts were validated in this statement, with the stat they were
  // validated as (cache/folder_memory.hpp): one stat per folder per statement.
  // `owner`: the store's LocalFiles (several stores may share a connection); `dir` relative to it.
  std::optional<FolderCheck> validated(const void* owner, const std::string& dir) {
    std::lock_guard lock(mu_);
    auto of = validated_.find(owner);
    if (of == validated_.end()) return std::nullopt;
    auto it = of->second.find(dir);
    if (it == of->second.end()) return std::nullopt;
    return it->second;
  }
  void mark_validated(const void* owner, const std::string& dir, const FolderCheck& check) {
    std::lock_guard lock(mu_);
    if (open_cursors_ == 0) return;
    auto& folders = validated_[owner];
    if (folders.size() >= kMaxListingEntries) {
      if (auto it = folders.find(dir); it != folders.end()) it->second = check;
      return;
    }
    folders.insert_or_assign(dir, check);
  }

  // Outer nullopt: not remembered. Inner nullopt: remembered as missing.
  std::optional<std::optional<std::string>> find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = files_.find(key);
    if (it == files_.end()) return std::nullopt;
    if (!it->second) return std::optional<std::string>();
    return std::optional<std::string>(*it->second);
  }
  // Outer nullopt: not remembered. Null: remembered as missing.
  std::optional<std::shared_ptr<const std::string>> find_shared(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = files_.find(key);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& key, const std::optional<std::string>& contents) {
    if (contents && contents->size() > kMaxEntryBytes) return;
    remember_shared(key, contents ? std::make_shared<const std::string>(*contents) : nullptr);
  }
  // The same, keeping `contents` itself (null: missing): the buffer a remembered store's log
  // holds too (cache/remember_log.cpp), not a copy of it.
  void remember_shared(const std::string& key, std::shared_ptr<const std::string> contents) {
    std::lock_guard lock(mu_);
    size_t size = contents ? contents->size() : 0;
    if (open_cursors_ == 0 || size > kMaxEntryBytes || bytes_ + size > kMaxTotalBytes) return;
    if (files_.emplace(key, std::move(contents)).second) bytes_ += size + key.size();
  }

  DirListing find_listing(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = listings_.find(key);
    return it == listings_.end() ? nullptr : it->second;
  }
  void remember_listing(const std::string& key, DirListing listing) {
    std::lock_guard lock(mu_);
    if (open_cursors_ == 0 || listing->size() > kMaxListingEntries) return;
    if (!listings_.emplace(key, std::move(listing)).second) return;
    listing_order_.push_back(key);
    if (listing_order_.size() > kMaxListings) {
      listings_.erase(listing_order_.front());
      listing_order_.pop_front();
    }
  }

  // A value derived from what the statement read (a run's task lineage), made once per statement
  // by its first caller while later callers for the same key wait, and dropped with the files.
  // Without an open cursor it is made afresh. The most recent kMaxComputed keys are kept.
  static constexpr size_t kMaxComputed = 64;
  template <typename T>
  std::shared_ptr<const T> computed(const std::string& key, const std::function<T()>& make) {
    std::shared_ptr<Computed> slot;
    {
      std::lock_guard lock(mu_);
      if (open_cursors_ > 0) {
        auto& held = computed_[key];
        if (!held) {
          held = std::make_shared<Computed>();
          computed_order_.push_back(key);
          if (computed_order_.size() > kMaxComputed) {
            computed_.erase(computed_order_.front());
            computed_order_.pop_front();
          }
        }
        slot = held;
      }
    }
    if (!slot) return std::make_shared<const T>(make());
    std::lock_guard lock(slot->mu);
    if (!slot->value) slot->value = std::make_shared<const T>(make());  // a throw leaves it to the next caller
    return std::static_pointer_cast<const T>(slot->value);
  }

 private:
  struct Computed {
    std::mutex mu;
    std::shared_ptr<const void> value;
  };
  std::mutex mu_;
  int open_cursors_ = 0;
  size_t bytes_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const std::string>, PathHash> files_;  // null: missing
  std::unordered_map<const void*, std::unordered_map<std::string, FolderCheck, PathHash>> validated_;
  std::map<const void*, std::function<void()>> at_end_;
  std::unordered_map<std::string, DirListing, PathHash> listings_;
  std::deque<std::string> listing_order_;  // oldest first
  std::unordered_map<std::string, std::shared_ptr<Computed>, PathHash> computed_;
  std::deque<std::string> computed_order_;  // oldest first
};

}  // namespace mfsql
