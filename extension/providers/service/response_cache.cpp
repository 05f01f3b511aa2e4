#include "providers/service/response_cache.hpp"

namespace mfsql::service {

DocPtr ResponseCache::find(const std::string& url, std::optional<double> ttl_s) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(url);
  if (it == slots_.end()) return nullptr;
  if (ttl_s && std::chrono::duration<double>(Clock::now() - it->second.doc->fetched).count() > *ttl_s) return nullptr;
  return it->second.doc;
}

void ResponseCache::put(DocPtr doc) {
  std::lock_guard lock(mu_);
  const size_t size = doc->bytes + doc->url.size();
  if (auto it = slots_.find(doc->url); it != slots_.end()) {
    bytes_ -= it->second.doc->bytes + it->second.doc->url.size();
    order_.erase(it->second.position);
    slots_.erase(it);
  }
  if (size > max_bytes_) return;  // larger than the whole budget: used once, not kept
  while (bytes_ + size > max_bytes_ && !order_.empty()) {
    auto victim = slots_.find(order_.front());
    bytes_ -= victim->second.doc->bytes + victim->second.doc->url.size();
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
