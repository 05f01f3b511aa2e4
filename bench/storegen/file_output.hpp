#pragma once
// Plain POSIX file output for the generator: hundreds of thousands of small files, so no streams.
// Files get mode 0600 as Metaflow's (tempfile-based) writes do; folders get 0755 less the umask.
#include <string>
#include <string_view>

namespace mfsql::storegen {

// Creates or replaces `path` with `content`. Throws std::runtime_error with the path on failure.
void write_file(const std::string& path, std::string_view content);

// mkdir -p; cheap when the folder exists.
void make_dirs(const std::string& path);

}  // namespace mfsql::storegen
