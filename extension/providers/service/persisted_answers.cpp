#include "providers/service/persisted_answers.hpp"

#include <zlib.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "net/http_client.hpp"
#include "util/error.hpp"
#include "util/gzip.hpp"

namespace mfsql::service {
namespace {

constexpr std::string_view kFormat = "mfsql-service-1\n";  // bump when the encoding changes

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

// Reads what put_* wrote; any overrun marks the whole row bad.
struct Reader {
  std::string_view in;
  bool bad = false;
  uint64_t u64() {
    if (in.size() < 8) return bad = true, 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(8);
    return v;
  }
  std::string_view str() {
    uint64_t n = u64();
    if (bad || n > in.size()) return bad = true, std::string_view();
    auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
};

uint32_t crc_of(std::string_view s) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

size_t shard_bytes(const AnswerShard& shard) {
  size_t n = 0;
  for (auto& [route, kept] : shard) n += route.size() + kept.bytes();
  return n;
}

}  // namespace

size_t KeptAnswer::bytes() const {
  return 64 + answer.next_cursor.size() + (answer.body ? answer.body->size() : 0) + (deflated ? deflated->size() : 0);
}

std::string encode_answers(const AnswerShard& shard) {
  std::string body;
  uint64_t count = 0;
  for (auto& [route, kept] : shard) count += kept.deflated != nullptr;
  put_u64(body, count);
  for (auto& [route, kept] : shard) {
    if (!kept.deflated) continue;
    put_str(body, route);
    put_u64(body, static_cast<uint64_t>(kept.answer.fetched_epoch_s));
    put_u64(body, kept.answer.paginated);
    put_str(body, kept.answer.next_cursor);
    put_u64(body, kept.raw_size);
    put_str(body, *kept.deflated);
  }
  std::string out(kFormat);
  put_u64(out, crc_of(body));
  return out + body;
}

std::optional<AnswerShard> decode_answers(std::string_view bytes) {
  if (bytes.substr(0, kFormat.size()) != kFormat) return std::nullopt;
  Reader r{bytes.substr(kFormat.size())};
  const uint64_t crc = r.u64();
  if (r.bad || crc != crc_of(r.in)) return std::nullopt;
  AnswerShard out;
  const uint64_t count = r.u64();
  for (uint64_t i = 0; i < count && !r.bad; ++i) {
    std::string route(r.str());
    KeptAnswer kept;
    kept.answer.fetched_epoch_s = static_cast<int64_t>(r.u64());
    kept.answer.paginated = r.u64() != 0;
    kept.answer.next_cursor = std::string(r.str());
    kept.raw_size = r.u64();
    kept.deflated = std::make_shared<const std::string>(r.str());
    if (kept.raw_size > PersistedAnswers::kMaxAnswerBytes || route.rfind("/flows/", 0) != 0) return std::nullopt;
    out.emplace(std::move(route), std::move(kept));
  }
  if (r.bad || !r.in.empty()) return std::nullopt;
  return out;
}

std::string PersistedAnswers::key_of(const std::string& url) {
  std::string bare = net::redact_url(url);  // no user:password@
  const size_t host = bare.find("://");
  const size_t cut = bare.find_first_of("?#", host == std::string::npos ? 0 : host + 3);
  if (cut != std::string::npos) bare.resize(cut);
  while (!bare.empty() && bare.back() == '/') bare.pop_back();
  return "service " + bare;
}

std::shared_ptr<PersistedAnswers> PersistedAnswers::shared(const std::string& url,
                                                           std::shared_ptr<ShardPersistence> persistence) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<PersistedAnswers>> services;
  const std::string key = key_of(url);
  std::lock_guard lock(mu);
  auto& slot = services[key];
  if (!slot || slot->persistence_ != persistence) slot = std::make_shared<PersistedAnswers>(key, std::move(persistence));
  return slot;
}

AnswerShard& PersistedAnswers::shard_locked(const std::string& flow) {
  auto it = shards_.find(flow);
  if (it != shards_.end()) return it->second;
  AnswerShard loaded;
  if (persistence_)
    if (auto bytes = persistence_->load(key_, flow))
      if (auto decoded = decode_answers(*bytes)) loaded = std::move(*decoded);
  held_ += shard_bytes(loaded);
  return shards_.emplace(flow, std::move(loaded)).first->second;
}

std::optional<StoredAnswer> PersistedAnswers::find(const std::string& flow, const std::string& route) {
  std::shared_ptr<const std::string> deflated;
  uint64_t raw_size = 0;
  StoredAnswer out;
  {
    std::lock_guard lock(mu_);
    auto& shard = shard_locked(flow);
    auto it = shard.find(route);
    if (it == shard.end()) return std::nullopt;
    out = it->second.answer;
    if (out.body) return out;
    deflated = it->second.deflated;
    raw_size = it->second.raw_size;
  }
  try {  // outside the lock: a run's listing inflates to megabytes
    auto body = std::make_shared<std::string>(gunzip(*deflated, raw_size));
    if (body->size() == raw_size) {
      out.body = std::move(body);
      return out;
    }
  } catch (const CorruptRecord&) {
  }
  std::lock_guard lock(mu_);  // passed the row's CRC, yet not what it says: forgotten
  auto& shard = shard_locked(flow);
  if (auto it = shard.find(route); it != shard.end() && it->second.deflated == deflated) {
    held_ -= route.size() + it->second.bytes();
    shard.erase(it);
  }
  return std::nullopt;
}

void PersistedAnswers::keep(const std::string& flow, const std::string& route, StoredAnswer answer) {
  if (!answer.body || answer.body->size() > kMaxAnswerBytes) return;
  std::lock_guard lock(mu_);
  auto& shard = shard_locked(flow);
  KeptAnswer kept;
  kept.raw_size = answer.body->size();
  kept.answer = std::move(answer);
  if (auto it = shard.find(route); it != shard.end()) {
    held_ -= route.size() + it->second.bytes();
    shard.erase(it);
  }
  held_ += route.size() + kept.bytes();
  shard.emplace(route, std::move(kept));
  // One flow's row stays bounded: its oldest answers go first (the new one is never the victim
  // unless it alone is over the bound).
  while (shard_bytes(shard) > kMaxShardBytes && shard.size() > 1) {
    auto oldest = std::min_element(shard.begin(), shard.end(), [&](auto& a, auto& b) {
      if (a.first == route) return false;
      if (b.first == route) return true;
      return a.second.answer.fetched_epoch_s < b.second.answer.fetched_epoch_s;
    });
    held_ -= oldest->first.size() + oldest->second.bytes();
    shard.erase(oldest);
  }
  dirty_.insert(flow);
  if (held_ > kMaxHeldBytes) {  // start over; what was saved stays in the file
    shards_.clear();
    dirty_.clear();
    held_ = 0;
  }
}

void PersistedAnswers::flush() {
  if (!persistence_) return;
  {
    std::lock_guard lock(mu_);
    if (dirty_.empty()) return;
  }
  auto self = weak_from_this().lock();
  if (!self || !write_behind(std::move(self))) write_dirty();
}

void PersistedAnswers::write_dirty() {
  if (!persistence_) return;
  std::vector<std::pair<std::string, AnswerShard>> out;
  {
    std::lock_guard lock(mu_);
    for (auto& flow : dirty_)
      if (auto it = shards_.find(flow); it != shards_.end()) out.emplace_back(flow, it->second);
    dirty_.clear();
  }
  // Deflated off the lock (the copies share the bodies), then the memory keeps the deflated form.
  for (auto& [flow, shard] : out)
    for (auto& [route, kept] : shard)
      if (!kept.deflated && kept.answer.body) {
        try {
          kept.deflated = std::make_shared<const std::string>(gzip_compress(*kept.answer.body, 1));
        } catch (...) {
          continue;  // not saved
        }
      }
  {
    std::lock_guard lock(mu_);
    for (auto& [flow, shard] : out) {
      auto it = shards_.find(flow);
      if (it == shards_.end()) continue;
      for (auto& [route, kept] : shard) {
        auto here = it->second.find(route);
        if (here == it->second.end() || !kept.deflated || here->second.answer.body != kept.answer.body) continue;
        held_ -= route.size() + here->second.bytes();
        here->second.deflated = kept.deflated;
        here->second.answer.body = nullptr;
        held_ += route.size() + here->second.bytes();
      }
    }
  }
  for (auto& [flow, shard] : out) persistence_->save(key_, flow, encode_answers(shard));
}

}  // namespace mfsql::service
