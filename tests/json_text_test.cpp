// tables::json_array writes JSON arrays of strings by hand (a statement makes thousands): its text
// must be exactly what nlohmann's dump gives, and invalid UTF-8 must fail the same way.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/json_text.hpp"

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

}  // namespace
}  // namespace mfsql
