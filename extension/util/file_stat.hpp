#pragma once
// What a rename into a folder, or a rewrite of a file, changes: the facts a remembered read is
// validated against (cache/folder_memory.hpp).
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string_view>

namespace mfsql {

struct FileStat {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStat&) const = default;
};

// A folder's stat as one statement validated it, and the wall clock just before that stat was
// taken: what a remembered fact is checked against (the racy rule needs the moment, not only the stat).
struct FolderCheck {
  FileStat stat;
  int64_t checked_ns = 0;
  // Compared with the decoded facts' state only (cache/fact_memory.hpp): a read of the folder's
  // remembered files must first validate them against the same stat (no second syscall).
  bool facts_only = false;
  // Nothing remembered of the folder stood for this stat when it was checked (a cold folder, or
  // one that changed): none of its remembered files, listing or facts is looked up. Required,
  // not only cheaper, when remembering is deferred (cache/remember_log.cpp): an entry that
  // validation would have started over (racy, or moved on) is then still there until the log
  // is remembered.
  bool unknown = false;
};

// A persisted fact's bytes as the cache hands them out (cache/stored_facts.cpp): read in place,
// with what keeps them alive (a new process's loaded shard), not a copy.
struct FactBytes {
  std::shared_ptr<const void> owner;
  std::string_view bytes;
};

inline FileStat stat_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

}  // namespace mfsql
