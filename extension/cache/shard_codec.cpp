// The bytes of one shard (cache/folder_memory.hpp): a format tag, a checksum of the body, then
// every entry. Decoding treats the bytes as untrusted: it checks the checksum of the whole and the
// entries' framing at load, then keeps the bytes and lets each folder point into them, so a new
// process pays for what it looks at (a member is found by a scan of its folder's few names, a
// listing is built on first use, a fact's name and bytes are views) instead of copying a megabyte
// shard into maps at load. A folder's payload (listing, members) is checked on its first use
// (stored_valid): a statement answered from the facts never walks the members it does not read.
//
// body:    varint count, then per entry: varint path length, path, u8 is_file, six u64 (dev, ino,
//          size, mtime ns, ctime ns, read ns), then a file's varint length + contents or a
//          folder's varint length + payload, then its facts: varint count, each a varint name
//          length, the name, u64 checked ns, varint length + bytes (providers/local/fact_codec.hpp).
// payload: varint listed (0: not listed, else entries + 1); when listed: varint names' length,
//          the names each NUL-terminated (Listing's own layout), then one is_dir bit per entry;
//          then varint members, each a varint name length, the name, and varint 0 (missing) or
//          length + 1 followed by the contents.
// A folder's payload is written again byte for byte while it is unchanged.
#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cache/folder_memory.hpp"
#include "util/varint.hpp"

namespace mfsql {
namespace {

constexpr std::string_view kFormat = "mfsql-shard-3\n";  // bump when the encoding changes
constexpr size_t kHeader = kFormat.size() + 8;           // the format tag, then the body's checksum

uint64_t load_le(const char* p, int n) {
  uint64_t v = 0;
  if (n == 8 && std::endian::native == std::endian::little) {
    std::memcpy(&v, p, 8);
    return v;
  }
  for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// XXH64 (Yann Collet's xxHash, 64-bit): detects a torn or damaged row as a CRC would, at several
// times the speed of zlib's crc32, which cost a new process ~1 ms per MiB of shard it loaded.
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL, kP3 = 0x165667B19E3779F9ULL,
                   kP4 = 0x85EBCA77C2B2AE63ULL, kP5 = 0x27D4EB2F165667C5ULL;
uint64_t xxh_round(uint64_t acc, uint64_t input) { return std::rotl(acc + input * kP2, 31) * kP1; }
uint64_t xxh_merge(uint64_t h, uint64_t v) { return (h ^ xxh_round(0, v)) * kP1 + kP4; }

}  // namespace

uint64_t shard_checksum(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  uint64_t h;
  if (s.size() >= 32) {
    uint64_t v1 = kP1 + kP2, v2 = kP2, v3 = 0, v4 = 0 - kP1;
    for (; end - p >= 32; p += 32) {
      v1 = xxh_round(v1, load_le(p, 8));
      v2 = xxh_round(v2, load_le(p + 8, 8));
      v3 = xxh_round(v3, load_le(p + 16, 8));
      v4 = xxh_round(v4, load_le(p + 24, 8));
    }
    h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
    h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
  } else {
    h = kP5;
  }
  h += s.size();
  for (; end - p >= 8; p += 8) h = std::rotl(h ^ xxh_round(0, load_le(p, 8)), 27) * kP1 + kP4;
  if (end - p >= 4) {
    h = std::rotl(h ^ (load_le(p, 4) * kP1), 23) * kP2 + kP3;
    p += 4;
  }
  for (; p < end; ++p) h = std::rotl(h ^ (static_cast<unsigned char>(*p) * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

namespace {

// Encoding holds the store's lock (on the writer thread; a cold statement's shard is megabytes),
// so the size is counted first and the bytes are then copied into one allocation: the same
// template walks an entry for both passes.
struct SizeCounter {
  size_t n = 0;
  void u64(uint64_t) { n += 8; }
  void byte(uint8_t) { n += 1; }
  void varint(uint64_t v) { n += varint_size(v); }
  void raw(std::string_view s) { n += s.size(); }
  void str(std::string_view s) { varint(s.size()), raw(s); }
};
struct Writer {
  char* p;
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    p += 8;
  }
  void byte(uint8_t v) { *p++ = static_cast<char>(v); }
  void varint(uint64_t v) { p = write_varint(p, v); }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  void str(std::string_view s) { varint(s.size()), raw(s); }
};

template <typename Sink>
void put_payload(Sink& out, const RememberedEntry& e) {
  out.varint(e.listing ? e.listing->size() + 1 : 0);
  if (e.listing) {
    size_t names = 0;
    for (auto& d : *e.listing) names += d.name.size() + 1;
    out.varint(names);
    for (auto& d : *e.listing) out.raw(std::string_view(d.name.data(), d.name.size() + 1));  // with its NUL
    uint8_t bits = 0;
    size_t k = 0;
    for (auto& d : *e.listing) {
      bits |= static_cast<uint8_t>(d.is_dir) << (k % 8);
      if (++k % 8 == 0) out.byte(bits), bits = 0;
    }
    if (k % 8) out.byte(bits);
  }
  out.varint(e.members.size());
  for (auto& [name, c] : e.members) {
    out.str(name);
    out.varint(c ? c->size() + 1 : 0);
    if (c) out.raw(*c);
  }
}

template <typename Sink>
void put_entry(Sink& out, const std::string& path, const RememberedEntry& e) {
  out.str(path);
  out.byte(e.is_file);
  for (uint64_t v : {e.stat.dev, e.stat.ino, e.stat.size, uint64_t(e.stat.mtime_ns), uint64_t(e.stat.ctime_ns),
                     uint64_t(e.read_ns)})
    out.u64(v);
  if (e.is_file) return out.str(e.contents);
  if (e.blob && !stored_valid(e)) {
    out.str(std::string_view("\0\0", 2));  // a payload found ill formed: neither listed nor any member known
  } else if (e.blob) {
    out.str(e.stored);  // unchanged since it was loaded
  } else {
    SizeCounter payload;
    put_payload(payload, e);
    out.varint(payload.n);
    if constexpr (std::is_same_v<Sink, SizeCounter>) out.n += payload.n;
    else put_payload(out, e);
  }
  out.varint(e.facts.size());
  for (auto& f : e.facts) {
    out.str(f.key());
    out.u64(static_cast<uint64_t>(f.checked_ns));
    // Pending facts are encoded by StoreMemory::write_dirty first; any other caller gets them too.
    if (f.pending()) out.str(f.encoder(f.value.get()));
    else out.str(f.data());
  }
}

// Reads what the Writer wrote; any overrun marks the reader bad.
struct Reader {
  std::string_view in;
  bool bad = false;
  uint64_t u64() {
    if (in.size() < 8) return bad = true, 0;
    uint64_t v = load_le(in.data(), 8);
    in.remove_prefix(8);
    return v;
  }
  uint8_t byte() {
    if (in.empty()) return bad = true, 0;
    uint8_t v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint64_t varint() {
    if (auto v = read_varint(in)) return *v;
    return bad = true, 0;
  }
  std::string_view raw(uint64_t n) {
    if (bad || n > in.size()) return bad = true, std::string_view();
    auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
  std::string_view str() { return raw(varint()); }
};

// A folder's payload, read in place. `names` and `dir_bits` are set when it was listed.
struct Payload {
  uint64_t listed = 0;  // entries + 1, or 0
  std::string_view names, dir_bits;
  Reader members_at;  // positioned at the member count
};

Payload open_payload(std::string_view stored) {
  Payload p;
  Reader r{stored};
  p.listed = r.varint();
  if (p.listed) {
    p.names = r.str();
    p.dir_bits = r.raw((p.listed - 1 + 7) / 8);
  }
  p.members_at = r;
  return p;
}

// The whole payload is well formed: names NUL-terminated and as many as listed, members in
// bounds, nothing left over. Checked once at decode, so the readers below may rely on it.
bool valid_payload(std::string_view stored) {
  Reader head{stored};
  const uint64_t listed = head.varint();
  if (head.bad || listed > stored.size() + 1) return false;  // each entry takes at least 1 byte
  Payload p = open_payload(stored);
  if (p.members_at.bad) return false;
  if (p.listed) {
    const uint64_t n = p.listed - 1;
    if (n ? (p.names.empty() || p.names.back() != '\0') : !p.names.empty()) return false;
    if (static_cast<uint64_t>(std::count(p.names.begin(), p.names.end(), '\0')) != n) return false;
  }
  Reader r = p.members_at;
  const uint64_t members = r.varint();
  for (uint64_t k = 0; k < members && !r.bad; ++k) {
    r.str();
    if (uint64_t c = r.varint(); c) r.raw(c - 1);
  }
  return !r.bad && r.in.empty();
}

}  // namespace

size_t RememberedEntry::bytes() const {
  size_t n = 96;
  for (auto& f : facts) n += f.key().size() + f.size() + 48;  // as StoreMemory::remember_fact
  // A stored folder is counted twice its encoding: its share of the shard, and what it builds.
  if (blob) return n + 2 * stored.size();
  n += contents.size();
  if (listing)
    for (auto& e : *listing) n += e.name.size() + 24;
  for (auto& [name, c] : members) n += name.size() + (c ? c->size() : 0) + 64;
  return n;
}

bool stored_valid(const RememberedEntry& e) {
  if (e.stored_checked < 0) e.stored_checked = valid_payload(e.stored) ? 1 : 0;
  return e.stored_checked == 1;
}

DirListing listing_of(RememberedEntry& e) {
  if (e.listing || !e.blob || !stored_valid(e)) return e.listing;
  const Payload p = open_payload(e.stored);
  if (!p.listed) return nullptr;
  // valid_payload saw exactly `listed - 1` NUL-terminated names and their bits: read in place.
  e.listing = std::make_shared<const Listing>(e.blob, p.names, static_cast<size_t>(p.listed - 1), [&](size_t k) {
    return ((static_cast<unsigned char>(p.dir_bits[k / 8]) >> (k % 8)) & 1) != 0;
  });
  return e.listing;
}

std::optional<std::optional<std::string>> member_of(const RememberedEntry& e, std::string_view name) {
  if (!e.blob) {
    auto m = e.members.find(name);
    if (m == e.members.end()) return std::nullopt;
    return m->second;
  }
  if (!stored_valid(e)) return std::nullopt;
  Reader r = open_payload(e.stored).members_at;
  const uint64_t members = r.varint();
  for (uint64_t k = 0; k < members; ++k) {
    const std::string_view at = r.str();
    const uint64_t c = r.varint();
    const std::string_view contents = c ? r.raw(c - 1) : std::string_view();
    if (at == name) return c ? std::optional<std::string>(std::string(contents)) : std::optional<std::string>();
  }
  return std::nullopt;
}

void materialize_stored(RememberedEntry& e) {
  if (!e.blob) return;
  // The facts read in place are copied out too: the blob they point into is let go.
  for (auto& f : e.facts)
    if (f.in_blob) {
      f.name.assign(f.blob_name);
      f.bytes.assign(f.blob_bytes);
      f.in_blob = false;
      f.blob_name = f.blob_bytes = {};
    }
  listing_of(e);
  Reader r = open_payload(e.stored).members_at;
  const uint64_t members = stored_valid(e) ? r.varint() : 0;
  for (uint64_t k = 0; k < members; ++k) {
    std::string name(r.str());
    const uint64_t c = r.varint();
    std::optional<std::string> contents;
    if (c) contents.emplace(r.raw(c - 1));
    // Written from a std::map, so names come in order: each one goes at the end.
    e.members.insert_or_assign(e.members.end(), std::move(name), std::move(contents));
  }
  e.blob.reset();
  e.stored = {};
}

std::string encode_shard(const Shard& entries, bool skip_racy) {
  auto racy = [&](const RememberedEntry& e) { return skip_racy && !StoreMemory::lasting(e); };
  SizeCounter size;
  uint64_t count = 0;
  for (auto& [path, e] : entries)
    if (!racy(e)) ++count, put_entry(size, path, e);
  size.varint(count);
  std::string out(kHeader + size.n, '\0');
  std::memcpy(out.data(), kFormat.data(), kFormat.size());
  Writer body{out.data() + kHeader};
  body.varint(count);
  for (auto& [path, e] : entries)
    if (!racy(e)) put_entry(body, path, e);
  Writer sum{out.data() + kFormat.size()};
  sum.u64(shard_checksum(std::string_view(out).substr(kHeader)));
  return out;
}

std::optional<Shard> decode_shard(std::string bytes) {
  if (bytes.size() < kHeader || std::string_view(bytes).substr(0, kFormat.size()) != kFormat) return std::nullopt;
  const uint64_t sum = load_le(bytes.data() + kFormat.size(), 8);
  if (sum != shard_checksum(std::string_view(bytes).substr(kHeader))) return std::nullopt;
  auto blob = std::make_shared<const std::string>(std::move(bytes));
  Reader r{std::string_view(*blob).substr(kHeader)};
  Shard out;
  const uint64_t count = r.varint();
  // An entry takes at least 51 bytes, so a damaged count cannot reserve more than the blob holds.
  out.reserve(static_cast<size_t>(std::min<uint64_t>(count, r.in.size() / 51)));
  for (uint64_t i = 0; i < count && !r.bad; ++i) {
    // Filled in place (an entry is a large object to build aside and move in); a path given twice
    // (written by no mfsql) keeps the last, as before. Anything bad refuses the whole shard below.
    auto [at, fresh] = out.try_emplace(std::string(r.str()));
    if (!fresh) at->second = RememberedEntry{};
    RememberedEntry& e = at->second;
    e.is_file = r.byte() != 0;
    e.stat.dev = r.u64();
    e.stat.ino = r.u64();
    e.stat.size = r.u64();
    e.stat.mtime_ns = static_cast<int64_t>(r.u64());
    e.stat.ctime_ns = static_cast<int64_t>(r.u64());
    e.read_ns = static_cast<int64_t>(r.u64());
    if (e.is_file) {
      e.contents = std::string(r.str());
    } else {
      // The payload's own structure is checked on its first use (stored_valid): a statement
      // answered from the facts never walks the members of the folders it asks.
      e.stored = r.str();
      if (r.bad) return std::nullopt;
      e.blob = blob;
      const uint64_t facts = r.varint();
      if (r.bad || facts > r.in.size() / 10) return std::nullopt;  // a fact takes at least 10 bytes
      e.facts.resize(static_cast<size_t>(facts));
      for (auto& f : e.facts) {
        f.in_blob = true;
        f.blob_name = r.str();
        f.checked_ns = static_cast<int64_t>(r.u64());
        f.blob_bytes = r.str();
      }
    }
  }
  if (r.bad || !r.in.empty()) return std::nullopt;
  return out;
}

}  // namespace mfsql
