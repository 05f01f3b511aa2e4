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

// Every setting in effect shows with where it came from: Metaflow's, mfsql's own and the AWS ones
// the S3 datastore reads; a profile may set mfsql's too; secrets and URL passwords never show.
TEST(Config, MfsqlAndAwsSettingsShowWithTheirOrigin) {
  TempDir home;
  std::ofstream(home.path() / "config.json") << "{\"MFSQL_SERVICE_DEADLINE_MS\": \"60000\"}";
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", std::nullopt);
  env.set("MFSQL_SERVICE_TIMEOUT_MS", std::nullopt);
  env.set("MFSQL_SERVICE_DEADLINE_MS", std::nullopt);
  env.set("MFSQL_SERVICE_CONCURRENCY", "3");
  env.set("AWS_SECRET_ACCESS_KEY", "aws-sekrit-555");
  env.set("METAFLOW_SERVICE_URL", "https://alice:pw-sekrit-9@md.example.com:8080/api");
  TestDb db;
  auto row = [&](const std::string& name) {
    auto rows = db.query("SELECT value, origin FROM metaflow_config WHERE name = " + quote(name));
    return rows.size() == 1 ? rows[0][0].value_or("NULL") + " | " + rows[0][1].value_or("NULL") : std::string("missing");
  };
  EXPECT_EQ(row("MFSQL_SERVICE_TIMEOUT_MS"), "30000 | default");
  EXPECT_EQ(row("MFSQL_SERVICE_DEADLINE_MS"), "60000 | profile " + (home.path() / "config.json").string());
  EXPECT_EQ(row("MFSQL_SERVICE_CONCURRENCY"), "3 | environment");
  EXPECT_EQ(row("AWS_SECRET_ACCESS_KEY"), "*** | environment");
  EXPECT_EQ(row("METAFLOW_SERVICE_URL"), "https://***@md.example.com:8080/api | environment");
  for (auto& r : db.query("SELECT * FROM metaflow_config"))
    for (auto& cell : r) EXPECT_EQ(cell.value_or("").find("sekrit"), std::string::npos) << *cell;
}

TEST(Config, MissingProfileIsAnErrorThatSaysWhatToDo) {
  TempDir home;
  std::ofstream(home.path() / "config_lab.json") << "{}";
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", "nope");
  env.set("MFSQL_FLAGS", std::nullopt);
  TestDb db;
  std::string err = db.error_of("SELECT * FROM flows");
  EXPECT_NE(err.find("METAFLOW_PROFILE=nope (from the environment)"), std::string::npos) << err;
  EXPECT_NE(err.find((home.path() / "config_nope.json").string()), std::string::npos) << err;
  EXPECT_NE(err.find("are: lab"), std::string::npos) << "names the profiles there are: " << err;
}

// The mfsql command's --profile sets METAFLOW_PROFILE and says so in MFSQL_FLAGS: the message names
// the flag the user typed, not a variable they never set; a module argument is named as written.
TEST(Config, MissingProfileIsNamedAsTheUserGaveIt) {
  TempDir home;
  ScopedEnv env;
  env.set("METAFLOW_HOME", home.path().string());
  env.set("METAFLOW_PROFILE", "nope");
  env.set("MFSQL_FLAGS", "METAFLOW_PROFILE=--profile");
  TestDb db;
  std::string err = db.error_of("SELECT * FROM flows");
  EXPECT_NE(err.find("--profile nope names a Metaflow profile that does not exist"), std::string::npos) << err;
  EXPECT_EQ(err.find("METAFLOW_PROFILE"), std::string::npos) << err;
  EXPECT_NE(err.find("There are no profiles in " + home.path().string()), std::string::npos) << err;

  env.set("METAFLOW_PROFILE", std::nullopt);
  db.query("CREATE VIRTUAL TABLE temp.p USING flows(profile='nope')");
  err = db.error_of("SELECT * FROM p");
  EXPECT_NE(err.find("profile='nope' names a Metaflow profile"), std::string::npos) << err;
  EXPECT_EQ(err.find("METAFLOW_PROFILE"), std::string::npos) << err;
}

TEST(Config, RootThatIsAFileSaysSoInTheUsersTerms) {
  TempDir tmp;
  std::ofstream(tmp.path() / "notes.txt") << "not a store";
  std::string file = (tmp.path() / "notes.txt").string();
  ScopedEnv env;
  env.set("MFSQL_FLAGS", std::nullopt);
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.f USING runs(root=" + quote(file) + ")");
  std::string err = db.error_of("SELECT * FROM f");
  EXPECT_NE(err.find("root='" + file + "' names a file, not a folder"), std::string::npos) << err;
  EXPECT_NE(err.find("give root= the folder that contains .metaflow"), std::string::npos) << err;
  EXPECT_EQ(err.find("METAFLOW_DATASTORE_SYSROOT_LOCAL"), std::string::npos) << "a variable the user never set: " << err;

  env.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", file);
  TestDb from_env;
  err = from_env.error_of("SELECT * FROM runs");
  EXPECT_NE(err.find("METAFLOW_DATASTORE_SYSROOT_LOCAL=" + file + " (from the environment) names a file"), std::string::npos) << err;
  EXPECT_NE(err.find("set METAFLOW_DATASTORE_SYSROOT_LOCAL to the folder"), std::string::npos) << err;

  env.set("MFSQL_FLAGS", "METAFLOW_DATASTORE_SYSROOT_LOCAL=--root");
  TestDb from_flag;
  err = from_flag.error_of("SELECT * FROM runs");
  EXPECT_NE(err.find("--root " + file + " names a file"), std::string::npos) << err;
  EXPECT_NE(err.find("give --root the folder"), std::string::npos) << err;
}

// root='' used to mean "not given", and so the store found upward from the working directory.
TEST(Config, EmptyModuleArgumentIsAnError) {
  ScopedEnv env;
  env.set("METAFLOW_DATASTORE_SYSROOT_LOCAL", std::nullopt);
  fs::path old = fs::current_path();
  fs::current_path(local_fixture() / ".metaflow" / "TypesFlow");  // a store upward, that root='' must not find
  TestDb db;
  std::string err;
  for (const char* arg : {"root", "service", "datastore", "profile"}) {
    std::string table = std::string("temp.e_") + arg;
    err = db.error_of("CREATE VIRTUAL TABLE " + table + " USING runs(" + arg + "='')");
    if (err.empty()) err = db.error_of("SELECT count(*) FROM " + table);
    EXPECT_NE(err.find(std::string(arg) + "='' is empty"), std::string::npos) << err;
    EXPECT_NE(err.find("leave " + std::string(arg) + "= out"), std::string::npos) << err;
  }
  fs::current_path(old);
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
