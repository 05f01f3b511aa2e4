#include "cache/derived_memory.hpp"

#include "util/per_store.hpp"

namespace mfsql {

std::shared_ptr<DerivedMemory> DerivedMemory::shared(const std::string& store_identity) {
  return per_store<DerivedMemory>(store_identity);
}

std::shared_ptr<const DerivedMemory::Derived> DerivedMemory::find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : it->second;
}

namespace {
size_t bytes_of(const std::string& key, const DerivedMemory::Derived& d, size_t value_bytes) {
  size_t n = key.size() + sizeof d + value_bytes + 64;
  for (auto& dep : d.depends_on) n += sizeof dep + dep.folder.size();
  return n;
}
}  // namespace

void DerivedMemory::remember(const std::string& key, std::shared_ptr<const void> value,
                             std::vector<FolderDependency> depends_on, size_t value_bytes) {
  auto derived = std::make_shared<Derived>(Derived{std::move(value), std::move(depends_on)});
  const size_t n = bytes_of(key, *derived, value_bytes);
  derived->bytes = n;
  std::lock_guard lock(mu_);
  if (bytes_ + n > kMaxBytes) {  // start over: the next statements derive again what they ask
    values_.clear();
    bytes_ = 0;
  }
  auto [it, fresh] = values_.try_emplace(key);
  if (!fresh) bytes_ -= std::min(bytes_, it->second->bytes);
  it->second = std::move(derived);
  bytes_ += n;
}

size_t DerivedMemory::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace mfsql
