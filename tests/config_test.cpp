// Finding the store as Metaflow does: environment, project config, METAFLOW_HOME profiles.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/test_db.hpp"
#include "support/scoped_env.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace mfsql::testing {
namespace {

TEST(Config, ProfileFileInMetaflowHomeSelectsTheStore) {
  TempDir home;
  std::ofstream(home.path() / "config_lab.json")
      << "{\"METAFLOW_DATASTORE_SYSROOT_LOCAL\": \"" << local_fixture().string()
      << "\", \"METAFLOW_SERVICE_AUTH_KEY\": \"sekrit-key-123\"}";
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", "lab");
  env.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", std::nullopt);
  env.set("METAFLOW_SERVICE_AUTH_KEY", std::nullopt);
  TestDb db;
  EXPECT_EQ(*db.scalar("SELECT count(*) FROM flows"), "4");
  auto origin = db.scalar("SELECT origin FROM metaflow_config WHERE name = 'METAFLOW_DATASTORE_SYSROOT_LOCAL'");
  EXPECT_EQ(*origin, "profile " + (home.path() / "config_lab.json").string());
  EXPECT_EQ(*db.scalar("SELECT value FROM metaflow_config WHERE name = 'METAFLOW_SERVICE_AUTH_KEY'"), "***");
  auto all = db.query("SELECT * FROM metaflow_config");
  for (auto& row : all)
    for (auto& cell : row) EXPECT_EQ(cell.value_or("").find("sekrit"), std::string::npos);
}

TEST(Config, MissingProfileIsAnErrorThatSaysWhatToDo) {
  TempDir home;
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", "nope");
  TestDb db;
  std::string err = db.error_of("SELECT * FROM flows");
  EXPECT_NE(err.find("config_nope.json"), std::string::npos) << err;
  EXPECT_NE(err.find("METAFLOW_PROFILE"), std::string::npos) << err;
}

TEST(Config, EnvironmentBeatsProfileAndUpwardSearchFindsTheProjectStore) {
  TempDir home;
  std::ofstream(home.path() / "config.json") << "{\"METAFLOW_DATASTORE_SYSROOT_LOCAL\": \"/nonexistent\"}";
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", std::nullopt);
  env.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", local_fixture().string());
  {
    TestDb db;
    EXPECT_EQ(*db.scalar("SELECT count(*) FROM flows"), "4");
  }
  env.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", std::nullopt);
  std::ofstream(home.path() / "config.json") << "{}";
  fs::path old = fs::current_path();
  fs::current_path(local_fixture() / ".metaflow" / "TypesFlow");  // inside the store: search goes up
  TestDb db;
  auto count = db.scalar("SELECT count(*) FROM flows");
  fs::current_path(old);
  EXPECT_EQ(*count, "4");
}

}  // namespace
}  // namespace mfsql::testing
