// LocalFiles reads through a StoreMemory (cache/folder_memory.hpp): what was read before is
// answered again only after a stat shows that nothing it depends on changed (docs/caching.md).
//  * a file in a `_meta` folder: Metaflow writes each one by temp file + rename into that folder
//    (and rewrites only a run's _self.json, also by rename), so one stat of the folder per
//    statement validates every file read from it, and its listing;
//  * any other folder's listing: that folder's stat;
//  * any other file (data.json, blobs, logs): its own stat. Older Metaflow versions wrote those in
//    place, so a file growing under the writer must be seen by its own size and mtime.
// The trace shows a validation as kind "check" (cache_hit 1 when the remembered facts were kept)
// and an answer from memory as a "file"/"dir" entry with cache_hit 1.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "cache/derived_memory.hpp"
#include "cache/fact_memory.hpp"
#include "cache/folder_memory.hpp"
#include "util/local_files.hpp"

namespace mfsql {
namespace {

int64_t wall_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void LocalFiles::remember_in(std::shared_ptr<StoreMemory> memory, std::function<bool()> enabled) {
  memory_ = std::move(memory);
  enabled_ = std::move(enabled);
  facts_ = memory_ ? FactMemory::shared(identity()) : nullptr;
  derived_ = memory_ ? DerivedMemory::shared(identity()) : nullptr;
  if (memo_ && memory_)
    memo_->at_statement_end(memory_.get(), [memory = memory_] {
      try {
        memory->flush();
      } catch (...) {
        // A cache that cannot be written is not used; the answer was already given.
      }
    });
}

std::string LocalFiles::identity() const {
  struct stat st {};
  if (root_fd_ < 0 || ::fstat(root_fd_, &st) != 0) return {};
  return root_ + "\n" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

void LocalFiles::note_hit(const char* kind, const std::string& target, int64_t bytes, bool present) const {
  TraceTimer timer(trace_, kind, target.empty() ? "." : target);
  timer.entry().cache_hit = true;
  timer.entry().status = present ? 0 : -1;
  timer.entry().bytes = bytes;
}

void LocalFiles::note_check(const std::string& dir, const FolderCheck& check) const {
  if (DependencyLog* log = DependencyLog::current()) log->note(this, dir, check.stat, check.checked_ns);
}

// A content-addressed blob (<flow>/data/<sha[:2]>/<sha>, datastore/cas.cpp) is the same bytes
// whenever it is read whole, so a value decoded from it depends on no folder; one missing, or
// changing under its read (Metaflow before 2.19.20 wrote blobs in place), does taint.
void LocalFiles::note_uncovered(const std::string& relative, bool read_whole) const {
  DependencyLog* log = DependencyLog::current();
  if (!log) return;
  const size_t a = relative.find('/');
  const bool blob = a != std::string::npos && relative.compare(a, 6, "/data/") == 0 &&
                    std::count(relative.begin(), relative.end(), '/') == 3;
  if (!blob || !read_whole) log->taint();
}

std::shared_ptr<const void> LocalFiles::derived(const std::string& key,
                                                const std::function<std::shared_ptr<const void>(bool& keep)>& make,
                                                size_t estimate) const {
  bool keep = true;
  if (!remembering() || !derived_) return make(keep);
  if (auto hit = derived_->find(key)) {
    bool stands = true;
    for (auto& dep : hit->depends_on) {
      // The asking statement's check of the folder: its memo's, or one stat (noted for an outer log).
      std::optional<FolderCheck> now = validated_folder(dep.folder, false, &dep.stat);
      if (!now || !(now->stat == dep.stat) || !StoreMemory::trusted(dep.stat, dep.checked_ns, now->checked_ns)) {
        stands = false;
        break;
      }
    }
    if (stands) return hit->value;
  }
  DependencyLog log(this);
  DependencyLog* const outer = DependencyLog::current();  // a value derived inside another
  std::shared_ptr<const void> value;
  try {
    DependencyLog::Scope scope(&log);
    value = make(keep);
  } catch (...) {
    if (outer) outer->absorb(log);  // the outer one may catch this and still depend on those reads
    throw;
  }
  if (outer) outer->absorb(log);
  if (keep && value && !log.tainted()) derived_->remember(key, value, log.take(), estimate);
  return value;
}

// One syscall, resolved beneath the root's descriptor but through symlinks in the middle of the
// path (not at its end). It only decides whether remembered facts are used: they are used when it
// equals the stat they were remembered under (device, inode, size, mtime, ctime), and every one of
// them was read beneath the root with no symlink followed (a file or folder reached only through
// one reads as missing). So nothing is ever read outside the store, and a remembered answer is
// the answer a fresh read gives under the same stat.
std::optional<FileStat> LocalFiles::quick_stat(const std::string& relative, bool directory) const {
  struct stat st {};
  const int flags = AT_SYMLINK_NOFOLLOW | (relative.empty() ? AT_EMPTY_PATH : 0);
  if (::fstatat(root_fd_, relative.c_str(), &st, flags) != 0) return std::nullopt;
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return std::nullopt;
  return stat_of(st);
}

std::optional<FolderCheck> LocalFiles::validated_folder(const std::string& dir, bool memo_asked,
                                                        const FileStat* decoded_under) const {
  if (memo_ && !memo_asked)
    if (auto v = memo_->validated(this, dir)) {
      if (!v->facts_only || decoded_under) {
        note_check(dir, *v);
        return v;
      }
      // Checked for the facts alone; the remembered files are validated against the same stat.
      v->unknown = !memory_->validate_folder(dir, v->stat, v->checked_ns);
      v->facts_only = false;
      memo_->mark_validated(this, dir, *v);
      note_check(dir, *v);
      return v;
    }
  const int64_t now = wall_ns();  // before the stat: a change after it is then never "older"
  TraceTimer timer(trace_, "check", dir.empty() ? "." : dir);
  std::optional<FileStat> st = quick_stat(dir, true);
  bool facts_only = false, kept = false;
  // For decoded facts, their own state standing is enough (FactMemory::find applies the racy rule
  // to each fact); the remembered files are then validated only if they are read.
  if (st && decoded_under && *st == *decoded_under) {
    timer.entry().cache_hit = true;
    facts_only = true;
  } else if (st) {
    // Kept when unchanged and not racy. Changed, or never seen: what is remembered of it starts
    // over from this stat (one lookup for both: this is every cold folder's path). Every read
    // that fills it in again is made the safe way; a path that leads through a symlink reads as
    // missing, so what is remembered under this stat is what a fresh read gives under it.
    // With a statement memo, the entry starts over only when a read logged under this check is
    // remembered, after the statement (cache/remember_log.cpp); `unknown` keeps this statement
    // off the old entry meanwhile.
    kept = memo_ ? memory_->keeps_folder(dir, *st, now) : memory_->validate_folder(dir, *st, now);
    timer.entry().cache_hit = kept;
  } else {
    timer.entry().status = -1;
    timer.entry().error = "missing";
    memory_->forget(dir);
    note_uncovered(dir);
    return std::nullopt;
  }
  const FolderCheck check{*st, now, facts_only, !facts_only && !kept};
  if (memo_) memo_->mark_validated(this, dir, check);
  note_check(dir, check);
  return check;
}

std::optional<FolderCheck> LocalFiles::known_folder_check(const std::string& dir) const {
  if (!remembering()) return std::nullopt;
  memory_->settle();  // what the last statement read, if the writer thread has not remembered it yet
  if (auto done = statement_check(dir)) return done;
  std::optional<FileStat> decoded_under = facts_->holds_any() ? facts_->state_of(dir) : std::nullopt;
  // Nothing decoded in this process: perhaps in an earlier one (the persisted shard).
  if (!decoded_under) decoded_under = memory_->facts_state(dir);
  if (!decoded_under) return std::nullopt;
  return validated_folder(dir, /*memo_asked=*/true, &*decoded_under);
}

std::optional<FolderCheck> LocalFiles::statement_check(const std::string& dir) const {
  if (!remembering() || !memo_) return std::nullopt;
  auto check = memo_->validated(this, dir);
  if (check) note_check(dir, *check);
  return check;
}

std::optional<FactBytes> LocalFiles::stored_fact(const std::string& dir, const FolderCheck& now,
                                                   std::string_view name, int64_t* checked_ns) const {
  if (!remembering()) return std::nullopt;
  return memory_->fact(dir, now.stat, now.checked_ns, name, checked_ns);
}

void LocalFiles::remember_decoded(const std::string& dir, const FolderCheck& as_of, std::string name,
                                  std::shared_ptr<const void> value, std::string (*encoder)(const void*),
                                  size_t estimate, size_t bytes) const {
  if (!remembering()) return;
  if (memo_)
    return memory_->log_fact(dir, as_of, std::move(name), std::move(value), encoder, estimate, facts_.get(), bytes);
  memory_->remember_fact(dir, as_of.stat, as_of.checked_ns, name, value, encoder, estimate);
  facts_->remember_shared<void>(dir, as_of, std::move(name), std::move(value), bytes);
}

DirListing LocalFiles::list_remembered(const std::string& dir) const {
  memory_->settle();
  if (memory_->knows(dir)) {
    auto st = validated_folder(dir);
    if (!st) return read_dir(dir, nullptr);
    if (auto hit = st->unknown ? nullptr : memory_->listing(dir, st->stat)) {
      note_hit("dir", dir, static_cast<int64_t>(hit->size()), true);
      return hit;
    }
  }
  FileStat seen;
  const int64_t read_ns = wall_ns();
  auto listing = read_dir(dir, &seen);
  if (!seen.ino) note_uncovered(dir);
  if (seen.ino) {
    note_check(dir, {seen, read_ns});
    if (memo_) memory_->log_listing(dir, seen, read_ns, listing);
    else memory_->remember_listing(dir, seen, read_ns, listing);
    // The entry stands for this stat (once the log is remembered): later reads in this statement
    // need no other check, and look nothing up (`unknown`).
    if (memo_ && !memo_->validated(this, dir)) memo_->mark_validated(this, dir, {seen, read_ns, false, true});
  }
  return listing;
}

std::optional<std::string> LocalFiles::read_remembered(const std::string& relative, size_t max_bytes,
                                                       std::shared_ptr<const std::string>* shared) const {
  memory_->settle();
  const size_t slash = relative.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : relative.substr(0, slash);
  if (is_meta_folder(dir)) {
    const std::string_view name = std::string_view(relative).substr(slash + 1);
    auto st = validated_folder(dir);
    if (!st) return read_plain(relative, max_bytes, nullptr);
    if (!st->unknown)
      if (auto hit = memory_->member(dir, st->stat, std::string(name)); hit && (!*hit || (*hit)->size() <= max_bytes)) {
        note_hit("file", relative, *hit ? static_cast<int64_t>((*hit)->size()) : 0, hit->has_value());
        if (shared && *hit) {
          *shared = std::make_shared<const std::string>(std::move(**hit));
          return std::nullopt;
        }
        return *hit;
      }
    auto contents = read_plain(relative, max_bytes, nullptr);
    if (!contents || contents->size() > max_bytes) return contents;
    if (!memo_) {
      memory_->remember_member(dir, st->stat, std::string(name), contents);
      return contents;
    }
    // One buffer for the log, the statement memo and the caller.
    auto buffer = std::make_shared<const std::string>(std::move(*contents));
    memory_->log_member(dir, *st, name, buffer);
    if (shared) {
      *shared = std::move(buffer);
      return std::nullopt;
    }
    return *buffer;
  }
  note_uncovered(relative);
  if (memory_->knows(relative)) {
    const int64_t now = wall_ns();
    std::optional<std::string> hit;
    {
      TraceTimer timer(trace_, "check", relative);
      if (auto quick = quick_stat(relative, false)) {
        hit = memory_->file(relative, *quick, now);  // no hit: read below, the safe way
      } else {
        timer.entry().status = -1;
        timer.entry().error = "missing";
        memory_->forget(relative);
      }
      timer.entry().cache_hit = hit && hit->size() <= max_bytes;
    }
    if (hit && hit->size() <= max_bytes) {
      note_hit("file", relative, static_cast<int64_t>(hit->size()), true);
      return hit;
    }
  }
  FileStat seen;
  const int64_t read_ns = wall_ns();
  auto contents = read_plain(relative, max_bytes, &seen);
  if (contents && seen.ino) memory_->remember_file(relative, seen, read_ns, *contents);
  if (!contents || !seen.ino) note_uncovered(relative, /*read_whole=*/false);  // not even a blob stands for it
  return contents;
}

}  // namespace mfsql
