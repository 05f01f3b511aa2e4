#pragma once
// Where tests find things: the shared fixtures (read-only in CI) and scratch folders.
#include <filesystem>
#include <string>

namespace mfsql::testing {

std::filesystem::path shared_dir();              // ../shared
std::filesystem::path local_fixture();           // ../shared/fixtures/metaflow-local (contains .metaflow)
// Points Metaflow's own settings (the environment) at the local store `root`, for tests that use
// the eponymous tables: local metadata and datastore, no profile.
void use_local_store(const std::filesystem::path& root);
std::filesystem::path service_fixture();         // ../shared/fixtures/metaflow-service
std::filesystem::path build_dir();               // where the `metaflow` module was built
std::filesystem::path source_dir();
std::string read_file(const std::filesystem::path& p);

// A fresh empty folder under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Copies a store (a folder containing .metaflow) into a fresh temp folder with write bits set,
// so a test can damage it without touching the read-only original.
std::filesystem::path copy_store(const std::filesystem::path& from, const TempDir& into);
// A copy that keeps only the metadata (the _meta folders) and drops every datastore file (blobs,
// data.json, logs), for tests whose values must come from another datastore (S3).
std::filesystem::path copy_metadata_only(const std::filesystem::path& from, const TempDir& into);

}  // namespace mfsql::testing
