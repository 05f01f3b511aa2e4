#pragma once
// One T per store identity per process (LocalFiles::identity()), shared by every connection to
// that store, made on first use and kept for the process's life.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mfsql {

template <typename T>
std::shared_ptr<T> per_store(const std::string& store_identity) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<T>> stores;
  std::lock_guard lock(mu);
  auto& slot = stores[store_identity];
  if (!slot) slot = std::make_shared<T>();
  return slot;
}

}  // namespace mfsql
