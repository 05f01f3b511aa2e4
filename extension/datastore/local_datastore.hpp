#pragma once
#include <memory>

#include "datastore/datastore.hpp"
#include "util/local_files.hpp"

namespace mfsql {

// The local datastore: files below a `.metaflow` folder; blob attributes in `<blob>_meta` sidecars.
class LocalDatastore final : public Datastore {
 public:
  explicit LocalDatastore(std::shared_ptr<LocalFiles> files) : files_(std::move(files)) {}
  std::string describe() const override { return "the local datastore at " + files_->root(); }
  std::optional<StoredObject> get(const std::string& key, bool with_attributes) override;
  std::optional<uint64_t> size(const std::string& key) override { return files_->size(key); }

 private:
  std::shared_ptr<LocalFiles> files_;
};

}  // namespace mfsql
