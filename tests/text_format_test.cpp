// Text mfsql writes by hand for every row (issue #16: formatting cost more than a remembered row):
// json_array must be exactly nlohmann's dump, sql_time exactly the printf format it replaces.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/json_text.hpp"
#include "util/time.hpp"

namespace mfsql {
namespace {

TEST(JsonArray, EqualsNlohmannsDumpForEveryByte) {
  std::vector<std::string> items;
  for (int c = 1; c < 0x80; ++c) items.push_back(std::string("a") + static_cast<char>(c) + "b");
  items.push_back("");
  items.push_back(std::string(1, '\0'));
  items.push_back("user:alice");
  items.push_back("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // UTF-8: taken through nlohmann
  EXPECT_EQ(json_array(items), nlohmann::json(items).dump());
  for (auto& item : items) EXPECT_EQ(json_array({item}), nlohmann::json(std::vector<std::string>{item}).dump()) << item;
  EXPECT_EQ(json_array({}), "[]");
}

TEST(JsonArray, InvalidUtf8FailsAsBefore) {
  const std::vector<std::string> bad = {"ok", "\xff\xfe"};
  EXPECT_THROW(nlohmann::json(bad).dump(), nlohmann::json::type_error);
  EXPECT_THROW(json_array(bad), nlohmann::json::type_error);
}

std::string printf_time(int y, int mo, int d, int h, int mi, int s, int ms) {
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", y, mo, d, h, mi, s, ms);
  return buf;
}

TEST(SqlTime, EqualsThePrintfFormat) {
  for (int y : {0, 1, 9, 99, 999, 1969, 1970, 2026, 9999, 10000, -1})
    for (int mo : {1, 9, 12})
      for (int d : {1, 10, 31})
        for (int h : {0, 9, 23})
          for (int mi : {0, 59})
            for (int s : {0, 7, 59})
              for (int ms : {0, 5, 42, 999}) EXPECT_EQ(sql_time(y, mo, d, h, mi, s, ms * 1000), printf_time(y, mo, d, h, mi, s, ms));
  EXPECT_EQ(iso_utc_ms(0), "1970-01-01 00:00:00.000");
  EXPECT_EQ(iso_utc_ms(-1), "1969-12-31 23:59:59.999");
  EXPECT_EQ(iso_utc_ms(1764547200123), "2025-12-01 00:00:00.123");
}

}  // namespace
}  // namespace mfsql
