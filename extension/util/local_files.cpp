#include "util/local_files.hpp"

#include <dirent.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/dependency_log.hpp"
#include "util/error.hpp"

namespace mfsql {
namespace {

// The record getdents64 fills (glibc declares no type for it).
struct linux_dirent64_view {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

bool safe_part(std::string_view p) {
  if (p.empty() || p == "." || p == "..") return false;
  return p.find('\0') == std::string_view::npos;
}

// One syscall that the kernel itself confines below the root, refusing symlinks on the way
// (Linux >= 5.6). nullopt when the kernel lacks openat2, so the caller walks component by component.
std::optional<int> open_confined(int root_fd, const std::string& relative, int flags) {
  static std::atomic<bool> unavailable{false};
  if (unavailable) return std::nullopt;
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    unavailable = true;  // old kernel, or a sandbox that forbids the call
    return std::nullopt;
  }
  if (fd < 0 && errno == EXDEV) errno = ELOOP;  // an escape attempt reads as "not there"
  return static_cast<int>(fd);
}

}  // namespace

LocalFiles::LocalFiles(std::string root, Trace* trace, StatementMemo* memo)
    : root_(std::move(root)), trace_(trace), memo_(memo) {
  root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

LocalFiles::~LocalFiles() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

int LocalFiles::open_beneath(const std::string& relative, bool directory) const {
  if (root_fd_ < 0) return -1;
  const std::string_view rel(relative);
  for (size_t start = 0; start <= rel.size();) {
    size_t slash = rel.find('/', start);
    std::string_view part = rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!safe_part(part) && !(rel.empty() && start == 0)) {
      errno = EINVAL;
      return -1;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const int final_flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : O_NONBLOCK);
  if (relative.empty()) return ::openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (auto fd = open_confined(root_fd_, relative, final_flags)) return *fd;
  int fd = ::dup(root_fd_);
  if (fd < 0) return -1;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t slash = relative.find('/', start);
    bool last = slash == std::string::npos;
    std::string part = relative.substr(start, last ? std::string::npos : slash - start);
    if (part.empty() && last && start == 0) break;  // the root itself
    if (!safe_part(part)) {
      ::close(fd);
      errno = EINVAL;
      return -1;
    }
    int flags = last ? final_flags : O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_DIRECTORY;
    int next = ::openat(fd, part.c_str(), flags);
    int saved = errno;
    ::close(fd);
    if (next < 0) {
      errno = saved;
      return -1;
    }
    fd = next;
    if (last) break;
    start = slash + 1;
  }
  return fd;
}

namespace {

// What a failed open means, for the trace.
std::string why_not(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR: return "missing";
    case ELOOP: return "symlink not followed (mfsql opens nothing a link points to)";
    case EINVAL: return "not a path inside the store";
    case EACCES:
    case EPERM: return "permission denied";
  }
  return std::strerror(error);
}

}  // namespace

// A symlink in a listing is left out (it could lead outside the store); the trace says so, so
// that a flow or run behind a link is never silently absent.
void LocalFiles::note_link(const std::string& folder, const char* name) const {
  TraceTimer timer(trace_, "link", folder.empty() ? std::string(name) : folder + "/" + name);
  timer.entry().status = -1;
  timer.entry().error = why_not(ELOOP);
}

std::optional<std::string> LocalFiles::read(const std::string& relative, size_t max_bytes) const {
  if (remembering()) return read_remembered(relative, max_bytes);
  note_uncovered(relative);
  return read_plain(relative, max_bytes, nullptr);
}

// `seen`, when given, gets the file's stat as it was opened, or stays zero when what was read is
// not the whole of that file (it changed size under the read).
std::optional<std::string> LocalFiles::read_plain(const std::string& relative, size_t max_bytes, FileStat* seen) const {
  TraceTimer timer(trace_, "file", relative);
  int fd = open_beneath(relative, false);
  if (fd < 0) {
    timer.entry().status = -1;
    timer.entry().error = why_not(errno);
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EINVAL) return std::nullopt;
    throw CorruptRecord("The file " + relative + " in the store " + root_ + " cannot be opened (" +
                        std::strerror(errno) + ").");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    timer.entry().status = -1;
    timer.entry().error = "not a regular file";
    return std::nullopt;
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    timer.entry().status = -1;
    timer.entry().error = "larger than the limit of " + std::to_string(max_bytes) + " bytes";
    throw CorruptRecord("The file " + relative + " is " + std::to_string(st.st_size) +
                        " bytes, more than the limit of " + std::to_string(max_bytes) + ".");
  }
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (seen && got == data.size()) *seen = stat_of(st);
  data.resize(got);  // a file shrinking under us (being rewritten) reads as what was there
  timer.entry().bytes = static_cast<int64_t>(got);
  return data;
}

std::optional<std::string> LocalFiles::read_memoized(const std::string& relative, size_t max_bytes) const {
  auto text = read_shared(relative, max_bytes);
  return text ? std::optional<std::string>(*text) : std::nullopt;
}

std::shared_ptr<const std::string> LocalFiles::read_shared(const std::string& relative, size_t max_bytes) const {
  if (!memo_) {
    auto contents = read(relative, max_bytes);
    return contents ? std::make_shared<const std::string>(std::move(*contents)) : nullptr;
  }
  const std::string key = memo_key(relative, false);
  if (auto hit = memo_->find_shared(key)) {
    note_memoized(relative, false);
    TraceTimer timer(trace_, "file", relative);
    timer.entry().cache_hit = true;
    timer.entry().status = *hit ? 0 : -1;
    timer.entry().bytes = *hit ? static_cast<int64_t>((*hit)->size()) : 0;
    return *hit;
  }
  // One buffer for the caller, the statement memo and the remembered store's log (no copies).
  std::shared_ptr<const std::string> shared;
  auto contents = remembering() ? read_remembered(relative, max_bytes, &shared) : read_plain(relative, max_bytes, nullptr);
  if (!shared && contents) shared = std::make_shared<const std::string>(std::move(*contents));
  memo_->remember_shared(key, shared);
  return shared;
}

std::optional<uint64_t> LocalFiles::size(const std::string& relative) const {
  note_uncovered(relative);
  TraceTimer timer(trace_, "stat", relative);
  int fd = open_beneath(relative, false);
  if (fd < 0) {
    timer.entry().status = -1;
    timer.entry().error = why_not(errno);
    return std::nullopt;
  }
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) {
    timer.entry().status = -1;
    timer.entry().error = "not a regular file";
    return std::nullopt;
  }
  return static_cast<uint64_t>(st.st_size);
}

// The statement memo's key of a file or listing: this LocalFiles's own, not only the root's. The
// memo records each folder's check per LocalFiles, and two of them over one root (root='/s' and
// root='/s/.metaflow' in one statement) check it at different moments: bytes one read under an
// older check must not pass for what the other's newer check saw (a fact or derived value kept
// under that check would then stay stale). The trailing '/' keeps a listing apart from a file.
std::string LocalFiles::memo_key(const std::string& relative, bool listing) const {
  const auto self = reinterpret_cast<uintptr_t>(this);
  std::string key;
  key.reserve(sizeof self + root_.size() + relative.size() + 2);
  key.append(reinterpret_cast<const char*>(&self), sizeof self);
  key += root_;
  key += '/';
  key += relative;
  if (listing) key += '/';
  return key;
}

// What an answer from the statement memo relied on, for the current DependencyLog: the check of
// the folder that the first read of this statement made (a `_meta` file, a listing), or nothing
// that a folder check covers.
void LocalFiles::note_memoized(const std::string& relative, bool listing) const {
  if (!DependencyLog::current()) return;
  const size_t slash = relative.rfind('/');
  const std::string dir = listing ? relative : slash == std::string::npos ? std::string() : relative.substr(0, slash);
  if ((listing || is_meta_folder(dir)) && statement_check(dir)) return;  // noted by statement_check
  note_uncovered(relative);
}

bool LocalFiles::exists(const std::string& relative) const {
  note_uncovered(relative);
  int fd = open_beneath(relative, false);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

DirListing LocalFiles::list(const std::string& relative) const {
  if (!remembering()) note_uncovered(relative);
  if (!memo_) return remembering() ? list_remembered(relative) : read_dir(relative, nullptr);
  const std::string key = memo_key(relative, true);
  if (auto hit = memo_->find_listing(key)) {
    note_memoized(relative, true);
    TraceTimer timer(trace_, "dir", relative.empty() ? "." : relative);
    timer.entry().cache_hit = true;
    timer.entry().bytes = static_cast<int64_t>(hit->size());
    return hit;
  }
  auto listing = remembering() ? list_remembered(relative) : read_dir(relative, nullptr);
  memo_->remember_listing(key, listing);
  return listing;
}

// getdents64 straight into a buffer: opendir's own 32 KiB buffer and flag checks cost more than
// the listing of a small _meta folder.
DirListing LocalFiles::read_dir(const std::string& relative, FileStat* seen) const {
  TraceTimer timer(trace_, "dir", relative.empty() ? "." : relative);
  std::string names;  // every kept name, NUL-terminated, end to end
  std::vector<std::pair<size_t, bool>> kept;  // (offset in names, is_dir)
  int fd = open_beneath(relative, true);
  if (fd < 0) {
    timer.entry().status = -1;
    timer.entry().error = why_not(errno);
    // A folder that is not there has nothing in it; one that is there but cannot be read would
    // silently hide what the query asks for, so it is an error.
    if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != EINVAL)
      throw UserError("The folder " + (relative.empty() ? std::string(".") : relative) + " of the store " + root_ +
                      " cannot be read (" + std::strerror(errno) + "); mfsql must list it to answer this query. "
                      "Give the user running mfsql read and search access to it.");
    return std::make_shared<const Listing>();
  }
  if (seen) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) *seen = stat_of(st);
  }
  alignas(8) char buf[16384];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (long pos = 0; pos < n;) {
      auto* e = reinterpret_cast<struct linux_dirent64_view*>(buf + pos);
      pos += e->d_reclen;
      if (e->d_name[0] == '.') continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
      }
      if (type == DT_LNK) note_link(relative, e->d_name);
      if (type != DT_DIR && type != DT_REG) continue;
      kept.emplace_back(names.size(), type == DT_DIR);
      names.append(e->d_name);
      names.push_back('\0');
    }
  }
  ::close(fd);
  timer.entry().bytes = static_cast<int64_t>(kept.size());
  return std::make_shared<const Listing>(std::move(names), kept);
}

}  // namespace mfsql
