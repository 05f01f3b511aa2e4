#include "cache/fact_memory.hpp"

#include "cache/folder_memory.hpp"
#include "util/per_store.hpp"

namespace mfsql {

std::shared_ptr<FactMemory> FactMemory::shared(const std::string& key) { return per_store<FactMemory>(key); }

std::shared_ptr<const void> FactMemory::find_erased(const std::string& folder, const FolderCheck& now,
                                                    std::string_view name) {
  Stripe& s = stripe_of(folder);
  std::lock_guard lock(s.mu);
  auto it = s.folders.find(folder);
  if (it == s.folders.end() || !(it->second.stat == now.stat)) return nullptr;
  for (auto& f : it->second.facts)
    if (f.name == name) return StoreMemory::trusted(now.stat, f.checked_ns, now.checked_ns) ? f.value : nullptr;
  return nullptr;
}

void FactMemory::remember_erased(const std::string& folder, const FolderCheck& as_of, std::string name,
                                 std::shared_ptr<const void> value, size_t bytes) {
  holds_any_.store(true, std::memory_order_relaxed);
  Stripe& s = stripe_of(folder);
  std::lock_guard lock(s.mu);
  bytes += folder.size() + name.size() + sizeof(Fact);
  if (s.bytes + bytes > kMaxBytes / kStripes) {  // start this stripe over
    s.folders.clear();
    s.bytes = 0;
  }
  auto [it, fresh] = s.folders.try_emplace(folder);
  Folder& f = it->second;
  if (fresh) s.bytes += folder.size() + sizeof(Folder);
  if (!(f.stat == as_of.stat)) {  // a new state of the folder: what was decoded before is gone
    f.stat = as_of.stat;
    for (auto& fact : f.facts) s.bytes -= fact.bytes;
    f.facts.clear();
  }
  for (auto& fact : f.facts)
    if (fact.name == name) {
      s.bytes += bytes - fact.bytes;
      fact = Fact{std::move(name), as_of.checked_ns, std::move(value), bytes};
      return;
    }
  f.facts.push_back(Fact{std::move(name), as_of.checked_ns, std::move(value), bytes});
  s.bytes += bytes;
}

std::optional<FileStat> FactMemory::state_of(const std::string& folder) {
  Stripe& s = stripe_of(folder);
  std::lock_guard lock(s.mu);
  auto it = s.folders.find(folder);
  if (it == s.folders.end()) return std::nullopt;
  return it->second.stat;
}

size_t FactMemory::bytes() const {
  size_t total = 0;
  for (auto& s : stripes_) {
    std::lock_guard lock(s.mu);
    total += s.bytes;
  }
  return total;
}

}  // namespace mfsql
