// The bytes of one shard (cache/folder_memory.hpp): a format tag, a CRC of the body, then every
// entry as little-endian u64s and length-prefixed strings. Decoding treats the bytes as untrusted.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "cache/folder_memory.hpp"

namespace mfsql {
namespace {

constexpr std::string_view kFormat = "mfsql-shard-1\n";  // bump when the encoding changes

// Little-endian u64s and length-prefixed strings. Encoding holds the store's lock (on the writer
// thread; a cold statement's shard is megabytes), so the size is counted first and the bytes are
// then copied into one allocation: the same template walks an entry for both passes.
struct SizeCounter {
  size_t n = 0;
  void u64(uint64_t) { n += 8; }
  void str(std::string_view s) { n += 8 + s.size(); }
};
struct Writer {
  char* p;
  void u64(uint64_t v) {
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(p, &v, 8);
    } else {
      for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    p += 8;
  }
  void str(std::string_view s) {
    u64(s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
};

template <typename Sink>
void put_entry(Sink& out, const std::string& path, const RememberedEntry& e) {
  out.str(path);
  out.u64(e.is_file);
  for (uint64_t v : {e.stat.dev, e.stat.ino, e.stat.size, uint64_t(e.stat.mtime_ns), uint64_t(e.stat.ctime_ns),
                     uint64_t(e.read_ns)})
    out.u64(v);
  if (e.is_file) {
    out.str(e.contents);
    return;
  }
  out.u64(e.listing ? e.listing->size() + 1 : 0);  // 0: not listed
  if (e.listing)
    for (auto& d : *e.listing) {
      out.str(d.name);
      out.u64(d.is_dir);
    }
  out.u64(e.members.size());
  for (auto& [name, c] : e.members) {
    out.str(name);
    out.u64(c.has_value());
    if (c) out.str(*c);
  }
}

// Reads what put_entry wrote; any overrun marks the whole blob bad.
struct Reader {
  std::string_view in;
  bool bad = false;
  uint64_t u64() {
    if (in.size() < 8) return bad = true, 0;
    uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, in.data(), 8);
    } else {
      for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    }
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

}  // namespace

size_t RememberedEntry::bytes() const {
  size_t n = 96 + contents.size();
  if (listing)
    for (auto& e : *listing) n += e.name.size() + 24;
  for (auto& [name, c] : members) n += name.size() + (c ? c->size() : 0) + 64;
  return n;
}

std::string encode_shard(const Shard& entries, bool skip_racy) {
  auto racy = [&](const RememberedEntry& e) { return skip_racy && !StoreMemory::lasting(e); };
  SizeCounter size;
  uint64_t count = 0;
  for (auto& [path, e] : entries)
    if (!racy(e)) ++count, put_entry(size, path, e);
  const size_t header = kFormat.size() + 8;  // the format tag, then the body's CRC
  std::string out(header + 8 + size.n, '\0');
  std::memcpy(out.data(), kFormat.data(), kFormat.size());
  Writer body{out.data() + header};
  body.u64(count);
  for (auto& [path, e] : entries)
    if (!racy(e)) put_entry(body, path, e);
  Writer crc{out.data() + kFormat.size()};
  crc.u64(crc_of(std::string_view(out).substr(header)));
  return out;
}

std::optional<Shard> decode_shard(std::string_view bytes) {
  if (bytes.substr(0, kFormat.size()) != kFormat) return std::nullopt;
  Reader r{bytes.substr(kFormat.size())};
  uint64_t crc = r.u64();
  if (r.bad || crc != crc_of(r.in)) return std::nullopt;
  Shard out;
  uint64_t count = r.u64();
  // An entry takes at least 64 bytes, so a damaged count cannot reserve more than the blob holds.
  out.reserve(static_cast<size_t>(std::min<uint64_t>(count, r.in.size() / 64)));
  for (uint64_t i = 0; i < count && !r.bad; ++i) {
    std::string path(r.str());
    RememberedEntry e;
    e.is_file = r.u64() != 0;
    e.stat.dev = r.u64();
    e.stat.ino = r.u64();
    e.stat.size = r.u64();
    e.stat.mtime_ns = static_cast<int64_t>(r.u64());
    e.stat.ctime_ns = static_cast<int64_t>(r.u64());
    e.read_ns = static_cast<int64_t>(r.u64());
    if (e.is_file) {
      e.contents = std::string(r.str());
    } else {
      uint64_t listed = r.u64();
      if (listed > r.in.size()) return std::nullopt;
      if (listed) {
        std::string names;
        std::vector<std::pair<size_t, bool>> kept;
        kept.reserve(static_cast<size_t>(std::min<uint64_t>(listed - 1, r.in.size() / 16)));
        for (uint64_t k = 0; k + 1 < listed && !r.bad; ++k) {
          auto name = r.str();
          kept.emplace_back(names.size(), r.u64() != 0);
          names.append(name);
          names.push_back('\0');
        }
        e.listing = std::make_shared<const Listing>(std::move(names), kept);
      }
      uint64_t members = r.u64();
      for (uint64_t k = 0; k < members && !r.bad; ++k) {
        std::string name(r.str());
        std::optional<std::string> contents;
        if (r.u64()) contents.emplace(r.str());
        // Written from a std::map, so names come in order: each one goes at the end.
        e.members.insert_or_assign(e.members.end(), std::move(name), std::move(contents));
      }
    }
    out.emplace(std::move(path), std::move(e));
  }
  if (r.bad || !r.in.empty()) return std::nullopt;
  return out;
}

}  // namespace mfsql
