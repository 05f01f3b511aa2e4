// service::for_each_row (the SAX reading of the service's listings) hands out exactly the rows a
// whole-document parse has, with only the kept fields, nested values whole; and refuses what is
// not a list, so the caller parses it the usual way.
#include <gtest/gtest.h>

#include "providers/service/listing_rows.hpp"

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
