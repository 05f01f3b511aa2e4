// The service's kept answers (providers/service/persisted_answers.*) on their own: one load per
// (service, flow) however often asked, bytes that round-trip, a damaged or foreign row that decodes
// to nothing, a key without credentials, and the bound on one flow's row.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "providers/service/persisted_answers.hpp"

namespace mfsql::service {
namespace {

// A cache file in memory that counts its loads and saves.
struct CountingPersistence final : ShardPersistence {
  std::map<std::pair<std::string, std::string>, std::string> rows;
  int loads = 0, saves = 0;
  std::optional<std::string> load(const std::string& store, const std::string& shard) override {
    ++loads;
    auto it = rows.find({store, shard});
    return it == rows.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  void save(const std::string& store, const std::string& shard, const std::string& bytes) override {
    ++saves;
    rows[{store, shard}] = bytes;
  }
};

StoredAnswer answer(const std::string& body, int64_t at = 1700000000) {
  StoredAnswer a;
  a.body = std::make_shared<const std::string>(body);
  a.fetched_epoch_s = at;
  a.next_cursor = "c1";
  a.paginated = true;
  return a;
}

TEST(PersistedAnswers, KeyHasNoCredentialsQueryOrFragment) {
  EXPECT_EQ(PersistedAnswers::key_of("https://user:pw@md.example.com/api/?token=abc#x"), "service https://md.example.com/api");
  EXPECT_EQ(PersistedAnswers::key_of("http://127.0.0.1:8080/"), "service http://127.0.0.1:8080");
}

TEST(PersistedAnswers, ANewProcessLoadsEachFlowOnceAndFindsWhatWasKept) {
  auto file = std::make_shared<CountingPersistence>();
  const std::string body = R"([{"name": "x", "sha": "abc"}])";
  {
    PersistedAnswers first("service http://s", file);
    first.keep("F", "/flows/F/runs/1/artifacts", answer(body));
    first.write_dirty();
    EXPECT_EQ(file->saves, 1);
  }
  file->loads = 0;
  PersistedAnswers second("service http://s", file);  // as a new process
  for (int i = 0; i < 3; ++i) {
    auto found = second.find("F", "/flows/F/runs/1/artifacts");
    ASSERT_TRUE(found);
    EXPECT_EQ(*found->body, body);
    EXPECT_EQ(found->next_cursor, "c1");
    EXPECT_TRUE(found->paginated);
    EXPECT_EQ(found->fetched_epoch_s, 1700000000);
    EXPECT_FALSE(second.find("F", "/flows/F/runs/2/artifacts"));
    EXPECT_FALSE(second.find("G", "/flows/G/runs/1/artifacts"));
  }
  EXPECT_EQ(file->loads, 2) << "one load per flow";
}

TEST(PersistedAnswers, DamagedOrForeignBytesDecodeToNothing) {
  auto file = std::make_shared<CountingPersistence>();
  PersistedAnswers kept("service http://s", file);
  kept.keep("F", "/flows/F/runs/1/metadata", answer(std::string(5000, 'm')));
  kept.write_dirty();
  const std::string bytes = file->rows.begin()->second;
  ASSERT_TRUE(decode_answers(bytes));
  for (size_t at : {size_t{0}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    EXPECT_FALSE(decode_answers(damaged)) << "byte " << at;
  }
  EXPECT_FALSE(decode_answers(bytes.substr(0, bytes.size() - 3)));
  EXPECT_FALSE(decode_answers("mfsql-shard-1\n" + bytes.substr(16)));
  file->rows.begin()->second[bytes.size() / 2] ^= 0x40;
  PersistedAnswers fresh("service http://s", file);
  EXPECT_FALSE(fresh.find("F", "/flows/F/runs/1/metadata"));
}

TEST(PersistedAnswers, OneFlowsRowIsBoundedOldestFirst) {
  auto file = std::make_shared<CountingPersistence>();
  PersistedAnswers kept("service http://s", file);
  // Bodies that do not deflate much (the bound counts what is held: raw until written).
  std::string noise(PersistedAnswers::kMaxShardBytes / 3, '\0');
  uint64_t x = 88172645463325252ull;
  for (auto& c : noise) c = static_cast<char>((x ^= x << 13, x ^= x >> 7, x ^= x << 17) & 0xff);
  for (int run = 1; run <= 4; ++run)
    kept.keep("F", "/flows/F/runs/" + std::to_string(run) + "/artifacts", answer(noise, 1700000000 + run));
  EXPECT_FALSE(kept.find("F", "/flows/F/runs/1/artifacts")) << "the oldest stayed beyond the bound";
  EXPECT_TRUE(kept.find("F", "/flows/F/runs/4/artifacts"));
  kept.write_dirty();
  EXPECT_LE(file->rows.begin()->second.size(), PersistedAnswers::kMaxShardBytes + 4096);
}

}  // namespace
}  // namespace mfsql::service
