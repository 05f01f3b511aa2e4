#pragma once
// What mfsql learned of one code package (a gzip'd tar in the datastore), kept per connection by
// the package's sha: content-addressed, so an entry is never stale. Only the listing and the few
// small members the client reads (INFO, the content marker, the conda manifest) are kept, never
// the files themselves. Plain data, so that the Store can hold the cache (model/code_package.*
// fills it).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mfsql {

struct CodeFile {
  std::string path;  // the tar member's name, as the client's tarball lists it
  int64_t size = 0;
  std::string sha1;  // hex SHA-1 of the content
};

struct CodePackageListing {
  std::vector<CodeFile> files;  // regular files, in archive order (a repeated name: the last copy)
  std::optional<std::string> info_text;      // INFO (.mf_meta/INFO in a v1 package, INFO in v0)
  std::optional<std::string> conda_manifest;  // conda.manifest, read by conda/pypi environments
};

class CodePackageCache {
 public:
  std::shared_ptr<const CodePackageListing> find(const std::string& sha) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(sha);
    return it == entries_.end() ? nullptr : it->second;
  }
  void put(const std::string& sha, std::shared_ptr<const CodePackageListing> listing) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();  // a bound, not a policy: packages are few
    entries_[sha] = std::move(listing);
  }

  // Held while a package is listed, so that rows wanting the same package on several threads
  // read it once (packages are few: listing them one at a time costs nothing).
  std::mutex& listing_mutex() { return listing_mu_; }

 private:
  static constexpr size_t kMaxEntries = 256;
  std::mutex mu_, listing_mu_;
  std::map<std::string, std::shared_ptr<const CodePackageListing>> entries_;
};

}  // namespace mfsql
