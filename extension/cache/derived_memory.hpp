#pragma once
// Values derived from several folders of a local store (a run's outcome: its end step's name, its
// end task, that task's outcome artifacts), remembered with every folder check they depended on
// (util/dependency_log.hpp). A value is used again only when each of those folders, checked in
// the asking statement, has the stat it had then, and that stat was not racy at its check: the
// rule FactMemory applies to one folder (cache/fact_memory.hpp), applied to each. So a second
// statement makes the same checks (one stat per folder) and skips the decoding, lookups and
// copies between them: ~17,000 instructions a run of "runs with status", of ~57,000.
//
// Kept per process, per store identity, in memory only. Bounded; over the bound it starts over.
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/dependency_log.hpp"
#include "util/path_hash.hpp"

namespace mfsql {

class DerivedMemory {
 public:
  static constexpr size_t kMaxBytes = size_t{8} << 20;  // estimated

  static std::shared_ptr<DerivedMemory> shared(const std::string& store_identity);

  struct Derived {
    std::shared_ptr<const void> value;
    std::vector<FolderDependency> depends_on;
    size_t bytes = 0;  // its share of the bound
  };
  // What is remembered under `key`, to be validated by the caller; null when nothing is.
  std::shared_ptr<const Derived> find(const std::string& key) const;
  void remember(const std::string& key, std::shared_ptr<const void> value, std::vector<FolderDependency> depends_on,
                size_t value_bytes);
  size_t bytes() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Derived>, PathHash> values_;
  size_t bytes_ = 0;
};

}  // namespace mfsql
