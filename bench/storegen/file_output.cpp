#include "storegen/file_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mfsql::storegen {

namespace {
[[noreturn]] void fail(const char* what, const std::string& path) {
  throw std::runtime_error(std::string(what) + " " + path + ": " + std::strerror(errno));
}
}  // namespace

void write_file(const std::string& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create", path);
  const char* data = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      fail("cannot write", path);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) fail("cannot close", path);
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  if (::mkdir(path.c_str(), 0755) == 0) return;
  if (errno == EEXIST) return;
  if (errno != ENOENT) fail("cannot create folder", path);
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) fail("cannot create folder", path);
  make_dirs(path.substr(0, slash));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create folder", path);
}

}  // namespace mfsql::storegen
