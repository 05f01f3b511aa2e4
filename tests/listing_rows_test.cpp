// service::for_each_row (the SAX reading of the service's listings) hands out exactly the rows a
// whole-document parse has, with only the kept fields, nested values whole; and refuses what is
// not a list, so the caller parses it the usual way.
#include <gtest/gtest.h>

#include "providers/service/listing_rows.hpp"
#include "providers/service/response_cache.hpp"

namespace {

using nlohmann::json;

bool kept(const std::string& key) { return key != "system_tags" && key != "run_id"; }

std::vector<json> streamed(const std::string& text, bool* listed = nullptr) {
  std::vector<json> rows;
  bool ok = mfsql::service::for_each_row(text, kept, [&](const json& row) { rows.push_back(row); });
  if (listed) *listed = ok;
  return rows;
}

// The oracle: the whole document, object rows only, the other fields dropped.
std::vector<json> whole(const std::string& text) {
  std::vector<json> rows;
  for (auto& row : json::parse(text)) {
    if (!row.is_object()) continue;
    json out = json::object();
    for (auto& [k, v] : row.items())
      if (kept(k)) out[k] = v;
    rows.push_back(out);
  }
  return rows;
}

TEST(ListingRows, RowsAreTheDocumentsRowsWithTheKeptFields) {
  for (const std::string text : {
           R"([])",
           R"([{"name":"x","sha":"ab","run_id":"9","system_tags":["a","b"],"tags":["t"],"attempt_id":2,"ts_epoch":17}])",
           R"([{"value":{"k":[1,{"d":[true,null]}],"e":{}},"field_name":"f"},3,"s",[1,2],{"a":[[1],[2,[3]]]},{}])",
           R"([{"system_tags":{"deep":[{"x":1}]},"name":"after the skipped value"},{"n":-1.5,"u":18446744073709551615}])",
       }) {
    bool listed = false;
    EXPECT_EQ(streamed(text, &listed), whole(text)) << text;
    EXPECT_TRUE(listed) << text;
  }
}

TEST(ListingRows, WhatIsNotAListIsRefused) {
  for (const std::string text : {R"({"rows":[]})", R"("text")", R"(3)", R"([{"a":1})", R"()", R"([{"a":1}] x)"}) {
    bool listed = true;
    streamed(text, &listed);
    EXPECT_FALSE(listed) << text;
  }
}

}  // namespace

// A listing read row by row into its index is budgeted by the records it keeps, not by 8x its
// body: a 5,000-task step's 40 MB listing kept for a few names (~5 MB of records) stays cached
// while other answers come and go. (Budgeted by its body it outgrew the 48 MB budget, was "kept
// alone", and the next answer put pushed it out: the statement fetched it again.)
TEST(ResponseCache, AnIndexedListingIsBudgetedByItsRecords) {
  using mfsql::service::CachedDoc;
  mfsql::service::ResponseCache cache(size_t{48} << 20);
  auto doc = [](const std::string& url, size_t bytes, size_t held) {
    auto d = std::make_shared<CachedDoc>();
    d->url = url;
    d->status = 200;
    d->bytes = bytes;
    d->held = held;
    d->fetched = mfsql::service::Clock::now();
    return d;
  };
  cache.put(doc("/steps/process/artifacts#only=name,square", size_t{40} << 20, size_t{5} << 20));
  for (int i = 0; i < 20; ++i) cache.put(doc("/tasks/" + std::to_string(i) + "/artifacts", 8000, 0));
  EXPECT_NE(cache.find("/steps/process/artifacts#only=name,square", std::nullopt), nullptr);
  // An answer kept as its parsed document is still estimated from its body.
  cache.put(doc("/runs", size_t{6} << 20, 0));  // 48 MB estimated: the others go, oldest first
  EXPECT_EQ(cache.find("/steps/process/artifacts#only=name,square", std::nullopt), nullptr);
  EXPECT_NE(cache.find("/runs", std::nullopt), nullptr);
}
