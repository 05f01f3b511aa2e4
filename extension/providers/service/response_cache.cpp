#include "providers/service/response_cache.hpp"

namespace mfsql::service {

DocPtr ResponseCache::find(const std::string& url, std::optional<double> ttl_s) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(url);
  if (it == slots_.end()) return nullptr;
  if (ttl_s && std::chrono::duration<double>(Clock::now() - it->second.doc->fetched).count() > *ttl_s) return nullptr;
  return it->second.doc;
}

namespace {

// What a kept answer holds in memory, estimated from its body: the parsed document (nlohmann's
// nodes, maps and strings take several times the text) and the records indexed from it. Budgeting
// the text instead let a statement that reads many runs hold ~7x its budget.
constexpr size_t kHeldPerBodyByte = 8;
size_t held(const CachedDoc& doc) { return (doc.held ? doc.held : doc.bytes * kHeldPerBodyByte) + doc.url.size(); }

}  // namespace

void ResponseCache::put(DocPtr doc) {
  std::lock_guard lock(mu_);
  const size_t size = held(*doc);
  if (auto it = slots_.find(doc->url); it != slots_.end()) {
    bytes_ -= held(*it->second.doc);
    order_.erase(it->second.position);
    slots_.erase(it);
  }
  // Oldest first out until it fits. One answer larger than the whole budget is kept alone: the
  // statement reading it (a wide step's listing) would otherwise fetch it again for every task.
  while (bytes_ + size > max_bytes_ && !order_.empty()) {
    auto victim = slots_.find(order_.front());
    bytes_ -= held(*victim->second.doc);
    slots_.erase(victim);
    order_.pop_front();
  }
  order_.push_back(doc->url);
  bytes_ += size;
  std::string url = doc->url;
  slots_[url] = Slot{std::move(doc), std::prev(order_.end())};
}

void ResponseCache::clear() {
  std::lock_guard lock(mu_);
  slots_.clear();
  order_.clear();
  bytes_ = 0;
}

}  // namespace mfsql::service
