#pragma once
// Read-only access to the files below one root folder, and nothing outside it: every path is
// opened one component at a time with O_NOFOLLOW, so neither `..` nor a symlink can lead out of the
// store. Each read and listing is recorded in the connection's Trace.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/file_stat.hpp"
#include "util/statement_memo.hpp"
#include "util/trace.hpp"

namespace mfsql {

class StoreMemory;
class FactMemory;
class DerivedMemory;

class LocalFiles {
 public:
  LocalFiles(std::string root, Trace* trace, StatementMemo* memo = nullptr);
  ~LocalFiles();
  LocalFiles(const LocalFiles&) = delete;
  LocalFiles& operator=(const LocalFiles&) = delete;

  const std::string& root() const { return root_; }

  // The contents of `relative` ('/'-separated, each part a safe component); nullopt when it does
  // not exist or is not a regular file. Throws CorruptRecord when it exists but cannot be read, or
  // is larger than `max_bytes`.
  std::optional<std::string> read(const std::string& relative, size_t max_bytes = kDefaultMaxBytes) const;
  // The same, answered from the statement memo when this statement read it already.
  std::optional<std::string> read_memoized(const std::string& relative, size_t max_bytes = kDefaultMaxBytes) const;
  // The same, as the one buffer the memo (and the remembered store) keep: null when it does not
  // exist. For the small `_meta` files a statement reads by the thousand: no copy of them.
  std::shared_ptr<const std::string> read_shared(const std::string& relative, size_t max_bytes = kDefaultMaxBytes) const;

  bool exists(const std::string& relative) const;
  // The size of a regular file (an fstat, no read: a trace entry of kind "stat"); nullopt when it
  // does not exist or is not a regular file.
  std::optional<uint64_t> size(const std::string& relative) const;

  using Entry = DirEntry;
  // The entries of a folder (no symlinks: each one is a trace entry of kind "link"; no dot
  // files), in directory order; empty when it does not exist. Never null. Throws UserError when
  // it exists but cannot be read (permission denied). Answered from the statement memo when this statement listed it already.
  DirListing list(const std::string& relative) const;

  static constexpr size_t kDefaultMaxBytes = size_t{2} << 30;

  // Remember what is read in `memory` (cache/folder_memory.hpp), validated on every use, while
  // `enabled` says so. `identity()` is the key such a memory is kept under: the root's path and
  // its device and inode, so that a store copied elsewhere or replaced at the same path is another.
  void remember_in(std::shared_ptr<StoreMemory> memory, std::function<bool()> enabled);
  std::string identity() const;
  // While remembering: the store's decoded facts (cache/fact_memory.hpp), and the check of folder
  // `dir` they are validated against (one stat per folder per statement, shared with the reads).
  // Null / nullopt otherwise, or when the folder is not there.
  FactMemory* facts() const { return remembering() ? facts_.get() : nullptr; }
  // The check of `dir` when something is remembered of it (a stat, once per statement); nullopt,
  // with no syscall, when nothing is: then nothing decoded can be either.
  std::optional<FolderCheck> known_folder_check(const std::string& dir) const;
  // The check this statement made of `dir` (by a read or listing), if any: no syscall.
  std::optional<FolderCheck> statement_check(const std::string& dir) const;
  // Decoded facts persisted beside folder `dir` (cache/stored_facts.cpp): the bytes of `name` if
  // they stand for the check `now` (its own check time into *checked_ns); and keeping them.
  std::optional<FactBytes> stored_fact(const std::string& dir, const FolderCheck& now, std::string_view name,
                                       int64_t* checked_ns) const;
  // `value` was decoded from folder `dir` after its check `as_of`: remembered in facts() (`bytes`:
  // its approximate size) and beside the folder, as bytes that `encoder` makes later on the shard
  // writer's thread (`estimate`: their size meanwhile). With a statement memo, after the statement.
  void remember_decoded(const std::string& dir, const FolderCheck& as_of, std::string name,
                        std::shared_ptr<const void> value, std::string (*encoder)(const void*), size_t estimate,
                        size_t bytes) const;
  // A value `make` derives from this store's files (cache/derived_memory.hpp), remembered under
  // `key` with every folder check its reads relied on, and given again while each of those
  // folders still checks as it did. `make` clears `keep` for a value not to be remembered.
  std::shared_ptr<const void> derived(const std::string& key,
                                      const std::function<std::shared_ptr<const void>(bool& keep)>& make,
                                      size_t estimate) const;

 private:
  std::optional<std::string> read_plain(const std::string& relative, size_t max_bytes, FileStat* seen) const;
  DirListing read_dir(const std::string& relative, FileStat* seen) const;
  bool remembering() const { return memory_ && (!enabled_ || enabled_()); }
  // `shared`, when given, is set to the buffer of a `_meta` file's contents instead of returning
  // them (the buffer a fresh read was logged with): nullopt is then returned.
  std::optional<std::string> read_remembered(const std::string& relative, size_t max_bytes,
                                             std::shared_ptr<const std::string>* shared = nullptr) const;
  DirListing list_remembered(const std::string& relative) const;
  // One stat of `dir` per statement (`memo_asked`: the caller found none in the memo already).
  // `decoded_under`: the state FactMemory holds facts for, which then stands if it still is.
  std::optional<FolderCheck> validated_folder(const std::string& dir, bool memo_asked = false,
                                              const FileStat* decoded_under = nullptr) const;
  std::optional<FileStat> quick_stat(const std::string& relative, bool directory) const;
  void note_hit(const char* kind, const std::string& target, int64_t bytes, bool present) const;
  // For the current DependencyLog (util/dependency_log.hpp), if any: a check a read relied on, or
  // a read no folder check covers.
  void note_check(const std::string& dir, const FolderCheck& check) const;
  void note_uncovered(const std::string& relative, bool read_whole = true) const;
  void note_memoized(const std::string& relative, bool listing) const;
  std::string memo_key(const std::string& relative, bool listing) const;
  // A `_meta` folder: one stat of it validates every file read from it (Metaflow renames each in).
  static bool is_meta_folder(const std::string& dir) {
    return dir == "_meta" || (dir.size() > 6 && dir.compare(dir.size() - 6, 6, "/_meta") == 0);
  }

  int open_beneath(const std::string& relative, bool directory) const;
  void note_link(const std::string& folder, const char* name) const;

  std::string root_;
  int root_fd_ = -1;  // kept open: every path is resolved beneath it
  Trace* trace_;
  StatementMemo* memo_;
  std::shared_ptr<StoreMemory> memory_;
  std::shared_ptr<FactMemory> facts_;
  std::shared_ptr<DerivedMemory> derived_;
  std::function<bool()> enabled_;
};

}  // namespace mfsql
