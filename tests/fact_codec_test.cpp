// The bytes of a persisted decoded fact (providers/local/fact_codec.hpp): every type decodes to
// what was encoded, and bytes that are not a whole encoding (cut short, one byte changed, one
// byte more) decode to nothing or to a value read within the bytes, never past them.
#include "providers/local/fact_codec.hpp"

#include <gtest/gtest.h>

namespace mfsql {
namespace {

ObjectPath task_path() { return {"F", "12", "end", "7"}; }

template <typename T>
void expect_round_trip_and_bounds(const T& value) {
  const std::string bytes = fact_codec::encode(value);
  T got;
  ASSERT_TRUE(fact_codec::decode(bytes, got));
  EXPECT_EQ(fact_codec::encode(got), bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    T cut;
    EXPECT_FALSE(fact_codec::decode(std::string_view(bytes).substr(0, n), cut)) << n;
  }
  T longer;
  EXPECT_FALSE(fact_codec::decode(bytes + "x", longer));
  int refused = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string crafted = bytes;
      crafted[i] = static_cast<char>(v);
      T any;
      if (!fact_codec::decode(crafted, any)) ++refused;
    }
  EXPECT_GT(refused, 0);
}

TEST(FactCodec, EveryFactDecodesToWhatWasEncodedAndStaysInBounds) {
  expect_round_trip_and_bounds(std::vector<std::string>{"1", "22", ""});
  expect_round_trip_and_bounds(std::optional<FlowRecord>(FlowRecord{"F", 1748941200187, {"a"}, {"user:bob"}}));
  RunRecord run;
  run.path = {"F", "12", {}, {}};
  run.user_name = "alice";
  run.ts_ms = -1;
  run.tags = {"x", "y"};
  run.system_tags = {"runtime:dev"};
  run.last_heartbeat_s = 99;
  run.server_status = "completed";
  run.damaged = true;
  expect_round_trip_and_bounds(std::optional<RunRecord>(run));
  expect_round_trip_and_bounds(std::optional<RunRecord>());
  expect_round_trip_and_bounds(std::optional<StepRecord>(StepRecord{{"F", "12", "end", {}}, 5}));
  expect_round_trip_and_bounds(std::optional<TaskRecord>(TaskRecord{task_path(), 6, std::nullopt}));
  ArtifactRecord a{.task = task_path(), .name = "records", .sha = "e281a09f", .content_type = "gzip+pickle-v4",
                   .location = ":root:/tmp/s", .ds_type = "local", .attempt = 2, .ts_ms = 8, .damaged = false};
  expect_round_trip_and_bounds(std::vector<ArtifactRecord>{a, a});
  MetadataEntry e;
  e.task = task_path();
  e.field_name = "attempt-done";
  e.value = "[1, 2]";
  e.value_is_json = true;
  e.type = "attempt-done";
  e.user_name = "bob";
  e.tags = {"attempt_id:0"};
  e.ts_ms = 1748941200187;
  e.id = 3;
  expect_round_trip_and_bounds(std::vector<MetadataEntry>{e});

  std::optional<RunRecord> back;
  ASSERT_TRUE(fact_codec::decode(fact_codec::encode(std::optional<RunRecord>(run)), back));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->path, run.path);
  EXPECT_EQ(back->tags, run.tags);
  EXPECT_EQ(back->ts_ms, -1);
  EXPECT_EQ(back->server_status, run.server_status);
  EXPECT_TRUE(back->damaged);
}

}  // namespace
}  // namespace mfsql
