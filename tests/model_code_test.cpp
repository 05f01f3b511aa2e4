// Code packages and environments (issue 14, parts 6 and 7) against what Metaflow's client reports:
// oracle-model.json of metaflow-code (runs 1 and 3 packaged, 2 not; a packaged run's start task
// has no package) and of metaflow-local (no packages). Compared: runs.code and tasks.code
// (location, info, script_name), runs.script_name, steps/tasks.environment_info, and code_files
// against every tar member (name, size, sha1 — of the listing and of the content itself) and the
// flowspec's sha1 and length.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include <fstream>

#include "storegen/blob_store.hpp"
#include "storegen/code_package.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"
#include "util/sha1.hpp"

namespace mfsql::testing {
namespace {

using nlohmann::json;

struct Tally {
  int compared = 0, matched = 0;
  void check(bool ok, const std::string& what) {
    ++compared;
    if (ok) ++matched;
    else ADD_FAILURE() << what;
  }
  void equal(const json& expected, const json& actual, const std::string& what) {
    check(expected == actual, what + ": expected " + expected.dump().substr(0, 300) + ", got " + actual.dump().substr(0, 300));
  }
};

json cell_json(const Cell& c) { return c ? json::parse(*c) : json(); }

std::string pathspec_where(const std::string& pathspec) { return " WHERE pathspec = " + quote(pathspec); }

// The `code` column against the client's MetaflowCode (the oracle keeps path, info, script_name).
void compare_code(Tally& t, const json& expected, const Cell& actual, const std::string& what) {
  if (expected.is_null()) return t.check(!actual, what + ": expected no code, got " + actual.value_or(""));
  if (!actual) return t.check(false, what + ": expected code, got NULL");
  json got = json::parse(*actual);
  t.equal(expected["path"], got["location"], what + " location");
  t.equal(expected["info"], got["info"], what + " info");
  t.equal(expected["script_name"], got["script_name"], what + " script_name");
}

// Every member of the run's package, listed and read.
void compare_files(Tally& t, TestDb& db, const std::string& run, const json& code) {
  const std::string flow = run.substr(0, run.find('/')), run_id = run.substr(run.find('/') + 1);
  auto rows = db.query("SELECT path, size, sha1, content, text IS NOT NULL FROM code_files WHERE flow = " + quote(flow) +
                       " AND run_id = " + quote(run_id));
  std::map<std::string, std::vector<Cell>> by_path;
  for (auto& r : rows) by_path[*r[0]] = r;
  if (code.is_null()) return t.check(rows.empty(), run + ": a run without a package has code_files rows");
  t.check(rows.size() == code["members"].size(), run + ": " + std::to_string(rows.size()) + " files, the tarball has " +
                                                      std::to_string(code["members"].size()));
  for (auto& m : code["members"]) {
    const std::string name = m["name"];
    auto it = by_path.find(name);
    if (it == by_path.end()) {
      t.check(false, run + ": no code_files row for " + name);
      continue;
    }
    auto& r = it->second;
    t.equal(m["size"], std::stoll(*r[1]), run + " " + name + " size");
    t.equal(m["sha1"], *r[2], run + " " + name + " sha1");
    t.equal(m["sha1"], r[3] ? sha1_hex(*r[3]) : "", run + " " + name + " sha1 of content");
  }
  const std::string script = code["script_name"];
  if (auto it = by_path.find(script); it != by_path.end()) {
    t.equal(code["flowspec_sha1"], *it->second[2], run + " flowspec sha1");
    t.equal(code["flowspec_len"], it->second[3] ? it->second[3]->size() : 0, run + " flowspec length");
    t.check(*it->second[4] == "1", run + " flowspec is text");
  } else {
    t.check(false, run + ": no code_files row for the script " + script);
  }
}

// Per run (oracle.json): the script-name metadata its _parameters task shows, and code_present.
std::map<std::string, json> script_names(const json& oracle) {
  std::map<std::string, json> out;
  for (auto& f : oracle["flows"])
    for (auto& r : f["runs"]) {
      const json& p = r.value("parameters_task", json());
      out[r["pathspec"]] = {{"script", p.is_object() ? p["metadata_dict"].value("script-name", json()) : json()},
                            {"code_present", r.value("code_present", json())}};
    }
  return out;
}

Tally compare_store(const std::string& fixture) {
  const auto dir = shared_dir() / "fixtures" / fixture;
  const json model = json::parse(read_file(dir / "oracle-model.json"));
  const auto scripts = script_names(json::parse(read_file(dir / "oracle.json")));
  use_local_store(dir);
  TestDb db;
  Tally t;
  for (auto& flow : model["flows"])
    for (auto& run : flow["runs"]) {
      const std::string rp = run["pathspec"];
      auto r = db.query("SELECT code, script_name FROM runs" + pathspec_where(rp));
      if (r.size() != 1) {
        t.check(false, rp + ": not one runs row");
        continue;
      }
      compare_code(t, run["code"], r[0][0], rp + " runs.code");
      const json& script = run["code"].is_object() ? run["code"]["script_name"] : scripts.at(rp)["script"];
      t.equal(scripts.at(rp)["code_present"], r[0][0].has_value(), rp + " runs.code IS NOT NULL is code_present");
      t.equal(script, r[0][1] ? json(*r[0][1]) : json(), rp + " runs.script_name");
      compare_files(t, db, rp, run["code"]);
      for (auto& step : run["steps"]) {
        const std::string sp = step["pathspec"];
        if (step.contains("environment_info"))
          t.equal(step["environment_info"], cell_json(db.scalar("SELECT environment_info FROM steps(1)" + pathspec_where(sp))),
                  sp + " steps.environment_info");
        for (auto& task : step["tasks"]) {
          const std::string tp = task["pathspec"];
          auto row = db.query("SELECT code, environment_info FROM tasks(1)" + pathspec_where(tp));
          if (row.size() != 1) {
            t.check(false, tp + ": not one tasks row");
            continue;
          }
          if (task.contains("code")) compare_code(t, task["code"], row[0][0], tp + " tasks.code");
          if (task.contains("environment_info"))
            t.equal(task["environment_info"], cell_json(row[0][1]), tp + " tasks.environment_info");
        }
      }
    }
  return t;
}

TEST(ModelCode, PackagedAndUnpackagedRunsEqualTheClient) {
  Tally t = compare_store("metaflow-code");
  std::printf("metaflow-code: compared %d fields, matched %d\n", t.compared, t.matched);
  EXPECT_GT(t.compared, 2000);  // 438 members x 3 facts x 2 packaged runs, and the rest
  EXPECT_EQ(t.compared, t.matched);
}

TEST(ModelCode, LocalFixtureHasNoPackagesAndNoEnvironment) {
  Tally t = compare_store("metaflow-local");
  std::printf("metaflow-local: compared %d fields, matched %d\n", t.compared, t.matched);
  EXPECT_GT(t.compared, 500);
  EXPECT_EQ(t.compared, t.matched);
}

// The fixtures ran in the local environment only; the other environments' rule
// (CondaEnvironment.get_client_info, which PyPIEnvironment inherits; uv inherits the local
// answer) on a copy whose package says conda and carries conda.manifest, one task with the
// conda_env_prefix metadata Metaflow's @conda registers ("metaflow/<arch>/<env id>").
TEST(ModelCode, CondaEnvironmentInfoIsTheManifestEntryOfTheTasksPrefix) {
  const std::string manifest = R"({"env123": {"linux-64": {"deps": ["numpy==2.0"], "python": "3.11"}}})";
  for (const std::string env : {"conda", "pypi", "uv", "my-extension"}) {
    TempDir dir;
    const auto root = copy_store(shared_dir() / "fixtures" / "metaflow-code", dir) / ".metaflow" / "PackagedFlow";
    const std::string info = R"({"environment_type": ")" + env + R"(", "script": "packaged_flow.py"})";
    std::ofstream(root / "data/53/53c98acc49cf8cf9b0d8dcdcae0b93fb3a29be7c", std::ios::binary | std::ios::trunc)
        << storegen::python_gzip(storegen::ustar({{".mf_install", R"({"version": 1, "module_files": []})"},
                                                  {".mf_meta/INFO", info},
                                                  {"conda.manifest", manifest},
                                                  {"packaged_flow.py", "pass\n"}},
                                                 0),
                                 0);
    std::ofstream(root / "1796112560799526/end/7/_meta/sysmeta_conda_env_prefix_1796112569012.json")
        << R"({"flow_id": "PackagedFlow", "run_number": "1796112560799526", "step_name": "end", "task_id": "7", )"
        << R"("field_name": "conda_env_prefix", "type": "conda_env_prefix", "value": "metaflow/linux-64/env123", )"
        << R"("tags": ["attempt_id:0"], "user_name": "someone", "ts_epoch": 1796112569012})";
    TestDb db;
    for (auto t : {"tasks", "steps"})
      db.query(std::string("CREATE VIRTUAL TABLE temp.c_") + t + " USING " + t + "(root=" + quote(root.parent_path().parent_path().string()) + ")");
    const bool conda = env == "conda" || env == "pypi";
    const Cell with_prefix = db.scalar("SELECT environment_info FROM c_tasks WHERE pathspec = 'PackagedFlow/1796112560799526/end/7'");
    const Cell without = db.scalar("SELECT environment_info FROM c_tasks WHERE pathspec = 'PackagedFlow/1796112560799526/gather/6'");
    const Cell step = db.scalar("SELECT environment_info FROM c_steps WHERE pathspec = 'PackagedFlow/1796112560799526/end'");
    if (conda) {
      EXPECT_EQ(cell_json(with_prefix), json::parse(manifest)["env123"]["linux-64"]) << env;
      EXPECT_EQ(cell_json(without), json::object()) << env << ": no conda_env_prefix is {}";
      EXPECT_EQ(cell_json(step), cell_json(with_prefix)) << env;
    } else if (env == "uv") {
      EXPECT_EQ(cell_json(with_prefix), json("Local environment"));
      EXPECT_EQ(cell_json(without), json("Local environment"));
    } else {
      EXPECT_FALSE(with_prefix) << "an environment mfsql does not know is NULL";
    }
  }
}

}  // namespace
}  // namespace mfsql::testing
