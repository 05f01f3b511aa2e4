// The production combination end to end: metadata in the real metadata service (the CTest fixture
// `live_service` loaded the local stores' runs through its REST API, registering S3 locations) and artifacts,
// data.json, logs and code packages in S3 (a real moto_server holding the stores' datastore files under the
// service's run numbers and task ids, Metaflow's S3 layout). Every table must answer for those runs as it
// does over the local stores, column for column, except the times the server stamps (created_at,
// finished_at). Ids are compared in service terms: each local run id and task id is replaced by the one the
// service gave it, and the local datastore root by the S3 one (ds-root, ds-type and code-package locations
// are registered as S3's).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/live_service.hpp"
#include "support/moto.hpp"
#include "support/scoped_env.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace mfsql::testing {
namespace {
namespace fs = std::filesystem;

const char* const kServerTimes[] = {"created_at", "finished_at", "started_at"};
// Tables whose hidden `private` argument also lists the names Metaflow keeps private.
const std::set<std::string> kHasPrivate = {"steps", "tasks", "artifacts", "metadata", "logs", "task_attempts"};

struct LocalStore {
  std::string prefix;  // tables l<prefix>_<name>
  fs::path root;       // the folder holding .metaflow
};

class LiveS3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    live_ = LiveService::find();
    if (!live_ || !MotoServer::available()) return;
    stores_ = {{"a", local_fixture()}, {"b", shared_dir() / "fixtures" / "metaflow-code"}};
    moto_ = new MotoServer();
    tmp_ = new TempDir();
    fs::path tree;
    for (const auto& s : stores_) tree = live_->datastore_as_registered(s.root / ".metaflow", tmp_->path() / "s3");
    uploaded_ = moto_->upload_store(tree, LiveService::kBucket, LiveService::kPrefix);
  }
  static void TearDownTestSuite() {
    delete moto_;
    delete tmp_;
    moto_ = nullptr;
    tmp_ = nullptr;
  }
  void SetUp() override {
    if (!live_) GTEST_SKIP() << LiveService::skip_reason();
    if (!moto_)
      GTEST_SKIP() << "moto_server is not on PATH; the S3 datastore tests need it (pip install 'moto[server]').";
    for (const char* name :
         {"METAFLOW_DEFAULT_METADATA", "METAFLOW_SERVICE_URL", "METAFLOW_DATASTORE_SYSROOT_LOCAL",
          "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_PROFILE", "METAFLOW_SERVICE_AUTH_KEY", "METAFLOW_SERVICE_HEADERS",
          "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"})
      env_.set(name, std::nullopt);
    env_.set("METAFLOW_HOME", tmp_->path().string());
    env_.set("METAFLOW_S3_ENDPOINT_URL", moto_->endpoint());
    env_.set("AWS_REGION", "us-east-1");
    env_.set("AWS_ACCESS_KEY_ID", MotoServer::kAccessKey);
    env_.set("AWS_SECRET_ACCESS_KEY", MotoServer::kSecretKey);
    cache_ = std::make_unique<TempDir>();  // every test reads S3, not a previous test's cache
    env_.set("MFSQL_S3_CACHE_DIR", (cache_->path() / "s3").string());
  }

  // Every column but the server's times (and the hidden arguments), blobs as hex.
  static std::vector<std::string> columns(TestDb& db, const std::string& table) {
    std::vector<std::string> out;
    for (auto& r : db.query("SELECT column_name, hidden FROM metaflow_columns WHERE table_name = " + quote(table) +
                            " ORDER BY position")) {
      const std::string name = *r[0];
      if (std::find(std::begin(kServerTimes), std::end(kServerTimes), name) != std::end(kServerTimes)) continue;
      if (name == "blob")
        out.push_back("hex(blob)");
      else if (*r[1] == "0")
        out.push_back(name);
    }
    return out;
  }

  // How the service keeps a metadata value that is not text: Metaflow posts foreach-stack as a JSON list
  // (["items=4"], as the local store keeps it); the service stores it through psycopg2 into a varchar, which
  // holds PostgreSQL's array text ({items=4}) -- the recording shows the same.
  static std::string pg_array_text(const nlohmann::json& list) {
    std::string out = "{";
    for (const auto& x : list) {
      std::string v = x.is_string() ? x.get<std::string>() : x.dump();
      bool quote_it = v.empty() || v == "NULL" || v.find_first_of("{},\"\\ \t") != std::string::npos;
      if (quote_it) {
        std::string q = "\"";
        for (char c : v) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
        v = q + "\"";
      }
      out += (out.size() > 1 ? "," : "") + v;
    }
    return out + "}";
  }

  static std::string lists_as_pg_arrays(const std::string& metadata_dict) {
    auto d = nlohmann::json::parse(metadata_dict, nullptr, false);
    if (!d.is_object()) return metadata_dict;
    for (auto& [k, v] : d.items())
      if (v.is_array()) v = pg_array_text(v);
    return d.dump();
  }

  // A resumed task's metadata names its origin: the service's copy names the service's ids.
  static std::string origins_in_service_ids(const std::string& metadata_dict, const std::string& flow,
                                            const std::string& step) {
    auto d = nlohmann::json::parse(metadata_dict, nullptr, false);
    if (!d.is_object() || !d.contains("origin-run-id") || !live_->has_run(flow, d["origin-run-id"].get<std::string>()))
      return metadata_dict;
    const std::string origin = d["origin-run-id"];
    d["origin-run-id"] = live_->run(flow, origin);
    if (d.contains("origin-task-id")) d["origin-task-id"] = live_->task(flow, origin, step, d["origin-task-id"]);
    return d.dump();
  }

  // A local cell in service terms: ids mapped, the local datastore root replaced by S3's.
  // Pathspecs anywhere in a text: Flow/run[/step/task], Flow one of `flows`, at a word boundary, the
  // run id ten digits or more. What std::regex found before, in the same order and extent, without
  // its cost: matching every cell was most of this test's time (~10 minutes under the sanitizers).
  struct Pathspec {
    size_t at = 0, length = 0;
    std::string flow, run, step, task;  // step and task empty: a run's pathspec
  };
  static std::vector<Pathspec> pathspecs_in(const std::string& v, const std::vector<std::string>& flows) {
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    auto digits_end = [&](size_t from) {
      while (from < v.size() && std::isdigit(static_cast<unsigned char>(v[from]))) ++from;
      return from;
    };
    std::vector<Pathspec> found;
    for (size_t at = 0; at < v.size();) {
      std::optional<Pathspec> match;
      if (at == 0 || !word(v[at - 1]))
        for (const auto& f : flows) {  // the first flow whose whole pathspec matches, as alternation does
          const size_t run_from = at + f.size() + 1;
          if (v.compare(at, f.size(), f) != 0 || run_from > v.size() || v[run_from - 1] != '/') continue;
          const size_t run_end = digits_end(run_from);
          if (run_end - run_from < 10) continue;
          Pathspec p{at, run_end - at, f, v.substr(run_from, run_end - run_from), "", ""};
          size_t step_end = run_end + 1;
          if (step_end < v.size() && v[run_end] == '/' &&
              (std::isalpha(static_cast<unsigned char>(v[step_end])) || v[step_end] == '_')) {
            while (step_end < v.size() && word(v[step_end])) ++step_end;
            const size_t task_end = step_end < v.size() && v[step_end] == '/' ? digits_end(step_end + 1) : 0;
            if (task_end > step_end + 1) {
              p.step = v.substr(run_end + 1, step_end - run_end - 1);
              p.task = v.substr(step_end + 1, task_end - step_end - 1);
              p.length = task_end - at;
            }
          }
          match = p;
          break;
        }
      if (!match) {
        ++at;
        continue;
      }
      found.push_back(*match);
      at = match->at + match->length;
    }
    return found;
  }

  static Cell to_service(const Cell& cell, const std::string& column, const std::map<std::string, Cell>& row,
                         const std::vector<std::string>& ds_roots, const std::vector<std::string>& flows) {
    if (!cell) return cell;
    const std::string flow = row.count("flow") && row.at("flow") ? *row.at("flow") : "";
    std::string v = *cell;
    if (column == "run_id" || column == "latest_run" || column == "latest_successful_run" || column == "origin_run_id")
      return live_->has_run(flow, v) ? live_->run(flow, v) : v;
    if (column == "task_id") return live_->task(flow, *row.at("run_id"), *row.at("step"), v);
    if (column == "parent_task_id" || column == "child_task_id")  // task_edges: the task of that side's step
      return live_->task(flow, *row.at("run_id"), *row.at(column == "parent_task_id" ? "parent_step" : "child_step"), v);
    if (column == "path_components") {  // [flow, run, step, task, name]: the ids in service terms
      auto parts = nlohmann::json::parse(v, nullptr, false);
      if (!parts.is_array() || parts.size() < 2 || !live_->has_run(flow, parts[1].get<std::string>())) return v;
      const std::string run = parts[1];
      parts[1] = live_->run(flow, run);
      if (parts.size() >= 4) parts[3] = live_->task(flow, run, parts[2].get<std::string>(), parts[3].get<std::string>());
      return parts.dump();
    }
    // Pathspecs anywhere in the text (pathspec, parent, end_task, values): Flow/run[/step/task].
    std::string out;
    size_t last = 0;
    for (const auto& m : pathspecs_in(v, flows)) {
      if (!live_->has_run(m.flow, m.run)) continue;
      out += v.substr(last, m.at - last) + m.flow + "/" + live_->run(m.flow, m.run);
      if (!m.step.empty()) out += "/" + m.step + "/" + live_->task(m.flow, m.run, m.step, m.task);
      last = m.at + m.length;
    }
    v = out + v.substr(last);
    for (const auto& root : ds_roots)
      for (size_t at; (at = v.find(root)) != std::string::npos;) v.replace(at, root.size(), live_->s3_root());
    if (column == "value" && row.count("field_name") && row.at("field_name") == Cell("ds-type") && v == "local")
      v = "s3";
    if (column == "value" && row.count("field_name") && !v.empty() && v[0] == '[') {
      auto list = nlohmann::json::parse(v, nullptr, false);
      if (list.is_array()) v = pg_array_text(list);
    }
    if (column == "metadata") v = origins_in_service_ids(lists_as_pg_arrays(v), flow, *row.at("step"));
    if (column == "value" && row.count("field_name") && row.at("field_name") == Cell("origin-run-id") &&
        live_->has_run(flow, v))
      v = live_->run(flow, v);
    if (column == "value" && row.count("field_name") && row.at("field_name") == Cell("origin-task-id")) {
      auto origin =
          origin_runs_.find(flow + "/" + *row.at("run_id") + "/" + *row.at("step") + "/" + *row.at("task_id"));
      if (origin != origin_runs_.end()) v = live_->task(flow, origin->second, *row.at("step"), v);
    }
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{R"("ds-type":"local")", R"("ds-type":"s3")"},
                                                          {R"("ds_type": "local")", R"("ds_type": "s3")"},
                                                          {R"(\"ds_type\": \"local\")", R"(\"ds_type\": \"s3\")"},
                                                          {R"("ds_type":"local")", R"("ds_type":"s3")"}})
      for (size_t at; (at = v.find(from)) != std::string::npos;) v.replace(at, from.size(), to);
    if (column == "parent_task_pathspecs" || column == "child_task_pathspecs") {  // sorted again, in service ids
      auto list = nlohmann::json::parse(v, nullptr, false);
      if (list.is_array()) {
        std::sort(list.begin(), list.end());
        v = list.dump();
      }
    }
    return v;
  }

  // For a row that differs: the fields that differ from the other side's row with the same leading path columns.
  static std::string differing_fields(const std::string& row, const std::vector<std::string>& others) {
    auto fields = [](const std::string& line) {
      std::vector<std::string> out;
      for (size_t at = 0, next; (next = line.find('\x1f', at)) != std::string::npos; at = next + 1)
        out.push_back(line.substr(at, next - at));
      return out;
    };
    const auto mine = fields(row);
    for (const auto& other : others) {
      const auto theirs = fields(other);
      if (theirs.size() != mine.size() || mine.size() < 5 ||
          !std::equal(mine.begin(), mine.begin() + 5, theirs.begin()))
        continue;
      std::string out = "\n  differs:";
      for (size_t i = 0; i < mine.size(); ++i)
        if (mine[i] != theirs[i]) out += "\n    local:   " + mine[i].substr(0, 400) + "\n    service: " + theirs[i].substr(0, 400);
      return out;
    }
    return "";
  }

  // Compares `table` over the local stores and over service + S3; returns the fields compared.
  size_t compare(const std::string& table, size_t at_least_rows) {
    TestDb db;
    const std::string s3 = "s3://" + std::string(LiveService::kBucket) + "/" + LiveService::kPrefix;
    db.query("CREATE VIRTUAL TABLE temp.s_" + table + " USING " + table + "(service=" + quote(live_->url()) +
             ", datastore=" + quote(s3) + ")");
    const std::vector<std::string> cols = columns(db, table);
    std::string select;
    for (auto& c : cols) select += (select.empty() ? "" : ", ") + c;
    const std::string priv = kHasPrivate.count(table) ? " AND private = 1" : "";
    std::multiset<std::string> expected, actual;
    size_t fields = 0;
    for (const auto& store : stores_) {
      const std::string local = "l" + store.prefix + "_" + table;
      db.query("CREATE VIRTUAL TABLE temp." + local + " USING " + table + "(root=" + quote(store.root.string()) + ")");
      std::vector<std::string> flows, ds_roots;
      const std::string root = quote(store.root.string()), aux = "temp.l" + store.prefix + "_";
      db.query("CREATE VIRTUAL TABLE " + aux + "fl USING flows(root=" + root + ")");
      db.query("CREATE VIRTUAL TABLE " + aux + "md USING metadata(root=" + root + ")");
      for (auto& r : db.query("SELECT flow FROM " + aux + "fl")) flows.push_back(*r[0]);
      for (auto& r :
           db.query("SELECT pathspec, value FROM " + aux + "md WHERE field_name = 'origin-run-id' AND private = 1"))
        origin_runs_[*r[0]] = *r[1];
      for (auto& r : db.query("SELECT DISTINCT value FROM " + aux + "md WHERE field_name = 'ds-root' AND private = 1"))
        ds_roots.push_back(*r[0]);
      std::string in;
      for (auto& f : flows) in += (in.empty() ? "" : ", ") + quote(f);
      for (auto& r : db.query("SELECT " + select + " FROM " + local + " WHERE 1" + priv)) {
        std::map<std::string, Cell> row;
        for (size_t i = 0; i < cols.size(); ++i) row[cols[i]] = r[i];
        std::string line;
        for (size_t i = 0; i < cols.size(); ++i)
          line += cols[i] + "=" + to_service(r[i], cols[i], row, ds_roots, flows).value_or("NULL") + "\x1f";
        expected.insert(line);
        fields += cols.size();
      }
      for (auto& r : db.query("SELECT " + select + " FROM s_" + table + " WHERE flow IN (" + in + ")" + priv)) {
        std::string line;
        for (size_t i = 0; i < cols.size(); ++i) line += cols[i] + "=" + r[i].value_or("NULL") + "\x1f";
        actual.insert(line);
      }
    }
    EXPECT_GE(expected.size(), at_least_rows) << table;
    EXPECT_EQ(expected.size(), actual.size()) << table;
    std::vector<std::string> missing, extra;
    std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::back_inserter(missing));
    std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::back_inserter(extra));
    for (size_t i = 0; i < std::min<size_t>(missing.size(), 3); ++i)
      ADD_FAILURE() << table << ": local row missing over service+S3:\n  " << missing[i].substr(0, 1500)
                    << differing_fields(missing[i], extra);
    for (size_t i = 0; i < std::min<size_t>(extra.size(), 3); ++i)
      ADD_FAILURE() << table << ": service+S3 row not over the local store:\n  " << extra[i].substr(0, 1500);
    const size_t matched_rows = expected.size() - missing.size();
    std::printf("[live+s3] %-9s %5zu rows, %6zu fields compared, %5zu rows equal (%zu columns: %s)\n", table.c_str(),
                expected.size(), fields, matched_rows, cols.size(), select.c_str());
    RecordProperty(table + "_fields", static_cast<int>(fields));
    return fields;
  }

  static inline const LiveService* live_ = nullptr;
  static inline MotoServer* moto_ = nullptr;
  static inline TempDir* tmp_ = nullptr;
  static inline int uploaded_ = 0;
  static inline std::vector<LocalStore> stores_;
  static inline std::map<std::string, std::string> origin_runs_;  // local task pathspec -> its origin run
  std::unique_ptr<TempDir> cache_;
  ScopedEnv env_;
};

TEST_F(LiveS3Test, DatastoreIsInS3) { EXPECT_GT(uploaded_, 1000) << "objects uploaded to moto"; }

// The code packages the service's metadata names are the objects in S3, byte for byte the local ones.
TEST_F(LiveS3Test, CodePackagesAreInS3) {
  TestDb db;
  db.query("CREATE VIRTUAL TABLE temp.s_md USING metadata(service=" + quote(live_->url()) + ")");
  const std::string s3 = live_->s3_root() + "/";
  int packages = 0;
  for (auto& r : db.query(
           "SELECT DISTINCT run_id, value FROM s_md WHERE flow = 'PackagedFlow' AND field_name = 'code-package'")) {
    auto pkg = nlohmann::json::parse(*r[1]);
    EXPECT_EQ(pkg.at("ds_type"), "s3");
    const std::string location = pkg.at("location");
    ASSERT_EQ(location.rfind(s3, 0), 0u) << location;
    std::string body;
    EXPECT_EQ(moto_->request("GET",
                             "/" + std::string(LiveService::kBucket) + "/" + LiveService::kPrefix + "/" +
                                 location.substr(s3.size()),
                             "", {}, &body),
              200)
        << location;
    const std::string sha = pkg.at("sha");
    EXPECT_EQ(body,
              read_file(shared_dir() / "fixtures/metaflow-code/.metaflow/PackagedFlow/data" / sha.substr(0, 2) / sha));
    ++packages;
  }
  EXPECT_EQ(packages, 2) << "runs 1 and 3 of PackagedFlow uploaded a package";
}

// `successful = 0` over every flow of both stores (@retry, @catch, @catch+@retry, a killed run,
// resumed runs, a failed foreach, custom start and end steps): the same tasks as with the pushdown
// defeated, and as many as the local store has, though most steps now start from filtered_tasks
// (model/failed_tasks.hpp) and the @catch ones do not.
TEST_F(LiveS3Test, UnsuccessfulTasksAreTheLocalStoresWhicheverWayFound) {
  TestDb db;
  const std::string s3 = "s3://" + std::string(LiveService::kBucket) + "/" + LiveService::kPrefix;
  db.query("CREATE VIRTUAL TABLE temp.s_tasks USING tasks(service=" + quote(live_->url()) + ", datastore=" + quote(s3) + ")");
  int narrowed = 0, total = 0;
  for (const auto& store : stores_) {
    db.query("CREATE VIRTUAL TABLE temp.l" + store.prefix + "_t USING tasks(root=" + quote(store.root.string()) + ")");
    for (auto& f : db.query("SELECT DISTINCT flow FROM l" + store.prefix + "_t")) {
      const std::string where = " FROM s_tasks WHERE flow = " + quote(*f[0]);
      const std::string order = " ORDER BY run_id, step, CAST(task_id AS INT)";
      db.query("SELECT metaflow_trace_clear()");
      Rows pushed = db.query("SELECT run_id, step, task_id" + where + " AND successful = 0" + order);
      narrowed += std::stoi(*db.scalar("SELECT count(*) FROM metaflow_trace WHERE target LIKE '%/filtered_tasks?%'"));
      EXPECT_EQ(pushed, db.query("SELECT run_id, step, task_id" + where + " AND +successful = 0" + order)) << *f[0];
      EXPECT_EQ(std::to_string(pushed.size()),
                db.scalar("SELECT count(*) FROM l" + store.prefix + "_t WHERE flow = " + quote(*f[0]) + " AND +successful = 0"))
          << *f[0];
      total += static_cast<int>(pushed.size());
    }
  }
  EXPECT_GE(total, 5);       // failed, caught and killed tasks (9 when this was written)
  EXPECT_GE(narrowed, 10);  // steps that started from the server's filter
  std::printf("[live+s3] successful = 0: %d tasks; %d steps started from filtered_tasks\n", total, narrowed);
}

TEST_F(LiveS3Test, Flows) { compare("flows", 5); }
TEST_F(LiveS3Test, Runs) { compare("runs", 18); }
TEST_F(LiveS3Test, Steps) { compare("steps", 100); }
TEST_F(LiveS3Test, Tasks) { compare("tasks", 250); }
TEST_F(LiveS3Test, Tags) { compare("tags", 70); }
TEST_F(LiveS3Test, Artifacts) { compare("artifacts", 5000); }
TEST_F(LiveS3Test, Metadata) { compare("metadata", 4500); }
TEST_F(LiveS3Test, Logs) { compare("logs", 300); }
TEST_F(LiveS3Test, TaskAttempts) { compare("task_attempts", 250); }
TEST_F(LiveS3Test, TaskEdges) { compare("task_edges", 250); }
TEST_F(LiveS3Test, CodeFiles) { compare("code_files", 800); }  // two packaged runs of PackagedFlow

}  // namespace
}  // namespace mfsql::testing
