// The persistent cache's shard bytes (cache/shard_codec.cpp): what is encoded decodes to the same
// facts, read in place; a loaded folder changed later keeps everything else it held; and bytes
// that are damaged, cut short, of another format or crafted never decode to facts (run under
// ASan too: a crafted payload must not read out of bounds).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache/folder_memory.hpp"

namespace mfsql {
namespace {

DirListing listing(const std::vector<std::pair<std::string, bool>>& entries) {
  std::string names;
  std::vector<std::pair<size_t, bool>> kept;
  for (auto& [name, is_dir] : entries) {
    kept.emplace_back(names.size(), is_dir);
    names += name;
    names.push_back('\0');
  }
  return std::make_shared<const Listing>(std::move(names), kept);
}

std::vector<std::pair<std::string, bool>> entries_of(const DirListing& l) {
  std::vector<std::pair<std::string, bool>> out;
  if (l)
    for (auto& d : *l) out.emplace_back(std::string(d.name), d.is_dir);
  return out;
}

// A shard as a statement leaves it: a `_meta` folder listed with members (one missing), a folder
// of nine entries (more than a byte of is_dir bits), a folder stat'ed but never listed, a file.
Shard sample() {
  Shard s;
  RememberedEntry meta;
  meta.stat = {1, 2, 3, 1'700'000'000'000'000'001, 1'700'000'000'000'000'002};
  meta.read_ns = 1'800'000'000'000'000'000;
  meta.listing = listing({{"_self.json", false}, {"0.attempt.json", false}});
  meta.members["_self.json"] = std::string("{\"tags\": []}");
  meta.members["0.attempt_done.json"] = std::nullopt;
  meta.members["empty.json"] = std::string();
  meta.facts = {{"run", 1'800'000'000'000'000'000, std::string("\x01\x00binary", 8)}, {"metadata:sysmeta_", 7, ""}};
  s["F/1/_meta"] = meta;
  RememberedEntry runs;
  runs.stat = {1, 5, 4096, 10, 11};
  runs.read_ns = 10 + StoreMemory::kGranularityNs + 1;
  std::vector<std::pair<std::string, bool>> nine;
  for (int i = 0; i < 9; ++i) nine.emplace_back("run" + std::to_string(i), i % 3 == 0);
  runs.listing = listing(nine);
  runs.facts = {{"children", 12, "run0"}};
  s["F"] = runs;
  RememberedEntry unlisted;
  unlisted.stat = {1, 6, 0, 20, 21};
  unlisted.read_ns = 20 + StoreMemory::kGranularityNs + 1;
  s["F/2"] = unlisted;
  RememberedEntry file;
  file.is_file = true;
  file.stat = {1, 7, 5, 30, 31};
  file.read_ns = 30 + StoreMemory::kGranularityNs + 1;
  file.contents = std::string("a\0b\nc", 5);
  s["F/1/end/3/0.data.json"] = file;
  return s;
}

void expect_same_facts(Shard& got, const Shard& want) {
  ASSERT_EQ(got.size(), want.size());
  for (auto& [path, w] : want) {
    auto it = got.find(path);
    ASSERT_NE(it, got.end()) << path;
    RememberedEntry& g = it->second;
    EXPECT_EQ(g.stat, w.stat) << path;
    EXPECT_EQ(g.read_ns, w.read_ns) << path;
    EXPECT_EQ(g.is_file, w.is_file) << path;
    EXPECT_EQ(g.contents, w.contents) << path;
    EXPECT_EQ(entries_of(listing_of(g)), entries_of(w.listing)) << path;
    EXPECT_EQ(listing_of(g) == nullptr, w.listing == nullptr) << path;
    for (auto& [name, c] : w.members) {
      auto m = member_of(g, name);
      ASSERT_TRUE(m.has_value()) << path << " " << name;
      EXPECT_EQ(*m, c) << path << " " << name;
    }
    EXPECT_FALSE(member_of(g, "not-there.json").has_value());
    ASSERT_EQ(g.facts.size(), w.facts.size()) << path;
    for (size_t k = 0; k < w.facts.size(); ++k) {
      EXPECT_EQ(g.facts[k].key(), w.facts[k].key()) << path;
      EXPECT_EQ(g.facts[k].checked_ns, w.facts[k].checked_ns) << path;
      EXPECT_EQ(g.facts[k].data(), w.facts[k].data()) << path;
    }
  }
}

TEST(ShardCodec, ChecksumIsXxh64) {
  // Reference values from libxxhash's XXH64(data, len, 0).
  EXPECT_EQ(shard_checksum(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(shard_checksum("a"), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(shard_checksum("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(shard_checksum("0123456789abcdef0123456789abcdef0123456789"), 0xa76190c3acf08a1cULL);
  EXPECT_EQ(shard_checksum("mfsql-shard-2 body of thirty-three+ bytes!!"), 0xa04f4710995c14cdULL);
}

TEST(ShardCodec, DecodesTheSameFactsReadInPlace) {
  const Shard want = sample();
  const std::string bytes = encode_shard(want);
  auto got = decode_shard(bytes);
  ASSERT_TRUE(got.has_value());
  for (auto& [path, e] : *got) EXPECT_EQ(e.blob != nullptr, !e.is_file) << path;  // folders point into the blob
  expect_same_facts(*got, want);
  // Unchanged folders are written again as they were (entries may come in another order), and
  // so are they once copied out.
  const std::string again = encode_shard(*got);
  EXPECT_EQ(again.size(), bytes.size());
  auto reloaded = decode_shard(again);
  ASSERT_TRUE(reloaded.has_value());
  expect_same_facts(*reloaded, want);
  for (auto& [path, e] : *got) materialize_stored(e);
  for (auto& [path, e] : *got) EXPECT_EQ(e.blob, nullptr);
  expect_same_facts(*got, want);
  for (auto& [path, e] : *reloaded)
    if (!e.is_file) {
      const std::string stored(e.stored);
      materialize_stored(e);
      Shard one{{path, e}};
      EXPECT_NE(encode_shard(one).find(stored), std::string::npos) << path;  // copied out, encoded the same
    }
}

TEST(ShardCodec, ALoadedFolderChangedKeepsWhatElseItHeld) {
  auto got = decode_shard(encode_shard(sample()));
  ASSERT_TRUE(got.has_value());
  RememberedEntry& meta = got->at("F/1/_meta");
  materialize_stored(meta);
  meta.members["0.attempt_done.json"] = std::string("{}");
  auto again = decode_shard(encode_shard(*got));
  ASSERT_TRUE(again.has_value());
  RememberedEntry& m = again->at("F/1/_meta");
  EXPECT_EQ(member_of(m, "0.attempt_done.json"), std::optional<std::string>("{}"));
  EXPECT_EQ(member_of(m, "_self.json"), std::optional<std::string>("{\"tags\": []}"));
  EXPECT_EQ(entries_of(listing_of(m)), entries_of(sample().at("F/1/_meta").listing));
}

TEST(ShardCodec, RacyEntriesAreLeftOut) {
  Shard s = sample();
  s["F/1/_meta"].read_ns = s["F/1/_meta"].stat.mtime_ns + 1;  // read in the tick it was written
  auto got = decode_shard(encode_shard(s, /*skip_racy=*/true));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->count("F/1/_meta"), 0u);
  EXPECT_EQ(got->count("F/1/end/3/0.data.json"), 1u);
}

TEST(ShardCodec, DamagedShortOrForeignBytesDecodeToNothing) {
  const std::string bytes = encode_shard(sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    EXPECT_FALSE(decode_shard(damaged).has_value()) << "byte " << i;
  }
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_shard(bytes.substr(0, n)).has_value()) << n;
  EXPECT_FALSE(decode_shard(bytes + "x").has_value());
  std::string older = bytes;
  older.replace(0, 14, "mfsql-shard-1\n");
  EXPECT_FALSE(decode_shard(older).has_value());
  older.replace(0, 14, "mfsql-shard-2\n");  // before decoded facts were persisted
  EXPECT_FALSE(decode_shard(older).has_value());
}

// Bytes with a right checksum but a wrong structure (written by no mfsql): refused or decoded
// to something that can be read without leaving the blob; never a crash.
TEST(ShardCodec, CraftedBytesWithARightChecksumStayInBounds) {
  const std::string bytes = encode_shard(sample());
  const size_t header = 14 + 8;
  int refused = 0;
  for (size_t i = header; i < bytes.size(); ++i)
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string crafted = bytes;
      crafted[i] = static_cast<char>(v);
      const uint64_t sum = shard_checksum(std::string_view(crafted).substr(header));
      for (int k = 0; k < 8; ++k) crafted[14 + k] = static_cast<char>((sum >> (8 * k)) & 0xff);
      auto got = decode_shard(crafted);
      if (!got) {
        ++refused;
        continue;
      }
      for (auto& [path, e] : *got) {
        entries_of(listing_of(e));
        member_of(e, "_self.json");
        materialize_stored(e);
      }
      encode_shard(*got);
    }
  EXPECT_GT(refused, 0);
}

// A folder's payload is checked on its first use, not at load: one ill formed under a right
// checksum (written by no mfsql) reads as neither listed nor any member known, its facts are
// still read, and it is written back empty.
TEST(ShardCodec, AnIllFormedPayloadIsRefusedWhenFirstUsed) {
  Shard s = sample();
  RememberedEntry& meta = s["F/1/_meta"];
  auto garbage = std::make_shared<const std::string>("\x05" "ab\x01" "\x07", 5);  // 4 entries listed, no NUL
  meta.listing = nullptr;
  meta.members.clear();
  meta.blob = garbage;
  meta.stored = *garbage;
  meta.stored_checked = 1;  // taken for well formed, so that it is encoded as it is
  const std::string bytes = encode_shard(s);
  ASSERT_NE(bytes.find(*garbage), std::string::npos);
  auto got = decode_shard(bytes);
  ASSERT_TRUE(got.has_value());  // the checksum and the entries' framing hold
  RememberedEntry& m = got->at("F/1/_meta");
  EXPECT_EQ(listing_of(m), nullptr);
  EXPECT_FALSE(member_of(m, "_self.json").has_value());
  ASSERT_EQ(m.facts.size(), 2u);
  EXPECT_EQ(m.facts[0].data(), std::string_view("\x01\x00binary", 8));
  const std::string again = encode_shard(*got);
  EXPECT_EQ(again.find(*garbage), std::string::npos);
  auto reloaded = decode_shard(again);
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_EQ(listing_of(reloaded->at("F/1/_meta")), nullptr);
  EXPECT_TRUE(stored_valid(reloaded->at("F/1/_meta")));
}

// Through StoreMemory: a second memory (a new process) loads the shard the first wrote, answers
// from it in place, and a member it learns later joins what was loaded instead of replacing it.
class MemoryPersistence : public ShardPersistence {
 public:
  std::optional<std::string> load(const std::string& store, const std::string& shard) override {
    auto it = rows.find(store + "\n" + shard);
    if (it == rows.end()) return std::nullopt;
    return it->second;
  }
  void save(const std::string& store, const std::string& shard, const std::string& bytes) override {
    rows[store + "\n" + shard] = bytes;
  }
  std::map<std::string, std::string> rows;
};

TEST(ShardCodec, ANewProcessLoadsInPlaceAndAddsToWhatItLoaded) {
  auto persistence = std::make_shared<MemoryPersistence>();
  const FileStat folder{1, 2, 3, 1'000'000'000'000, 1'000'000'000'001};
  const int64_t read_ns = folder.mtime_ns + StoreMemory::kGranularityNs + 1, now = read_ns + 1;
  const std::string dir = "F/1/_meta";
  {
    StoreMemory first("store", persistence);
    first.validate_folder(dir, folder, read_ns);
    first.remember_listing(dir, folder, read_ns, listing({{"_self.json", false}, {"0.attempt.json", false}}));
    first.remember_member(dir, folder, "_self.json", std::string("{\"a\": 1}"));
    first.flush();
  }
  ASSERT_EQ(persistence->rows.size(), 1u);
  {
    StoreMemory second("store", persistence);
    ASSERT_TRUE(second.validate_folder(dir, folder, now));
    EXPECT_EQ(entries_of(second.listing(dir, folder)),
              (std::vector<std::pair<std::string, bool>>{{"_self.json", false}, {"0.attempt.json", false}}));
    EXPECT_EQ(second.member(dir, folder, "_self.json"), std::optional<std::optional<std::string>>("{\"a\": 1}"));
    EXPECT_FALSE(second.member(dir, folder, "0.attempt.json").has_value());  // never read: not known
    second.remember_member(dir, folder, "0.attempt.json", std::string("{}"));
    EXPECT_EQ(second.member(dir, folder, "_self.json"), std::optional<std::optional<std::string>>("{\"a\": 1}"));
    second.flush();
    EXPECT_GT(second.bytes(), 0u);
    second.forget(dir);
    EXPECT_EQ(second.bytes(), 0u);  // what loading counted is what forgetting takes away
  }
  StoreMemory third("store", persistence);
  ASSERT_TRUE(third.validate_folder(dir, folder, now));
  EXPECT_EQ(third.member(dir, folder, "_self.json"), std::optional<std::optional<std::string>>("{\"a\": 1}"));
  EXPECT_EQ(third.member(dir, folder, "0.attempt.json"), std::optional<std::optional<std::string>>("{}"));
}

std::optional<std::string> bytes_of(const std::optional<FactBytes>& f) {
  if (!f) return std::nullopt;
  return std::string(f->bytes);
}

// A fact handed over decoded (the statement's path) is encoded only when asked for or written:
// the same bytes either way, counted in the bound as one estimate and corrected once encoded.
TEST(ShardCodec, AFactHandedOverDecodedIsEncodedWhenWritten) {
  auto persistence = std::make_shared<MemoryPersistence>();
  const FileStat folder{1, 2, 3, 1'000'000'000'000, 1'000'000'000'001};
  const int64_t read_ns = folder.mtime_ns + StoreMemory::kGranularityNs + 1, now = read_ns + 1;
  const std::string dir = "F/1/_meta";
  static int encoded = 0;
  auto encode = +[](const void* v) {
    ++encoded;
    return "bytes of " + *static_cast<const std::string*>(v);
  };
  {
    StoreMemory first("store", persistence);
    first.validate_folder(dir, folder, read_ns);
    first.remember_fact(dir, folder, read_ns, "run", std::make_shared<const std::string>("run 1"), encode, 4);
    first.remember_fact(dir, folder, read_ns, "big", std::make_shared<const std::string>(std::string(70'000, 'x')),
                        encode, 4);
    EXPECT_EQ(encoded, 0);  // nothing encoded on the way in
    int64_t checked = 0;
    EXPECT_EQ(bytes_of(first.fact(dir, folder, now, "run", &checked)), std::optional<std::string>("bytes of run 1"));
    EXPECT_EQ(checked, read_ns);
    first.write_dirty();
    EXPECT_EQ(encoded, 3);  // "run" once for the ask, both for the write
    first.forget(dir);
    EXPECT_EQ(first.bytes(), 0u);  // the estimate was corrected to what was kept
  }
  StoreMemory second("store", persistence);
  ASSERT_TRUE(second.validate_folder(dir, folder, now));
  int64_t checked = 0;
  const auto loaded = second.fact(dir, folder, now, "run", &checked);
  EXPECT_EQ(bytes_of(loaded), std::optional<std::string>("bytes of run 1"));
  ASSERT_TRUE(loaded.has_value());
  // Read in place: the bytes lie inside the loaded shard, which their owner keeps alive.
  const auto& blob = *std::static_pointer_cast<const std::string>(loaded->owner);
  EXPECT_GT(blob.size(), loaded->bytes.size());
  EXPECT_TRUE(loaded->bytes.data() >= blob.data() && loaded->bytes.data() + loaded->bytes.size() <= blob.data() + blob.size());
  EXPECT_FALSE(second.fact(dir, folder, now, "big", &checked).has_value());  // over kMaxFileBytes: not kept
  EXPECT_EQ(encoded, 3);
}

}  // namespace
}  // namespace mfsql
