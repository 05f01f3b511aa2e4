// The store generator against the real Metaflow 2.19.38 store in shared/fixtures/metaflow-local:
// the same kinds of files, the same JSON shapes, honest blobs, and pickles byte-identical to the
// ones CPython wrote for the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "storegen/blob_store.hpp"
#include "storegen/flow_spec.hpp"
#include "storegen/pickle_writer.hpp"
#include "storegen/storegen.hpp"
#include "support/test_env.hpp"
#include "util/gzip.hpp"
#include "util/sha1.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace mfsql::storegen;
using mfsql::testing::read_file;

namespace {

// "{run_number:str,flow_id:str,tags:list,...}": key order and JSON types, not values.
std::string shape(const json& v) {
  if (v.is_object()) {
    std::string out = "{";
    for (auto it = v.begin(); it != v.end(); ++it) out += (out.size() > 1 ? "," : "") + it.key() + ":" + shape(it.value());
    return out + "}";
  }
  if (v.is_array()) return "list";
  if (v.is_string()) return "str";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number_float()) return "float";
  return "null";
}

// Everything the comparison needs from one `.metaflow` tree.
struct StoreSurvey {
  std::set<std::string> task_file_kinds;   // "attempt.json", "DONE.lock", ... (after "<attempt>.")
  std::set<std::string> meta_file_kinds;   // "_self.json", "sysmeta", "artifact"
  std::set<std::string> sysmeta_fields;
  std::set<std::string> private_artifacts;
  std::map<std::string, std::set<std::string>> shapes;  // kind -> shapes seen
  std::vector<fs::path> data_jsons, blobs, logs;
  std::set<std::string> other_files;

  // The kinds seen in any of these stores.
  explicit StoreSurvey(const std::vector<fs::path>& roots) {
    for (const fs::path& root : roots) survey(root);
  }

  void survey(const fs::path& root) {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const fs::path& p = entry.path();
      std::vector<std::string> parts;
      for (const auto& part : fs::relative(p, root)) parts.push_back(part.string());
      const std::string& name = parts.back();
      if (parts.size() >= 2 && parts[1] == "data") {
        if (name.size() == 40) blobs.push_back(p);
        else shapes["blob_meta"].insert(read_file(p));
        continue;
      }
      if (name == "latest_run") {
        other_files.insert(name);
        continue;
      }
      std::smatch m;
      if (parts[parts.size() - 2] == "_meta") {
        json j = json::parse(read_file(p));
        if (name == "_self.json") {
          static const char* levels[] = {"", "", "flow_self", "run_self", "step_self", "task_self"};
          meta_file_kinds.insert(name);
          shapes[levels[parts.size() - 1]].insert(shape(j));
        } else if (name.rfind("sysmeta_", 0) == 0) {
          meta_file_kinds.insert("sysmeta");
          sysmeta_fields.insert(j["field_name"].get<std::string>());
          shapes["sysmeta:" + j["field_name"].get<std::string>()].insert(shape(j));
        } else if (std::regex_match(name, m, std::regex(R"(\d+_artifact_(.+)\.json)"))) {
          meta_file_kinds.insert("artifact");
          if (m[1].str()[0] == '_') private_artifacts.insert(m[1]);
          shapes["artifact"].insert(shape(j));
        } else {
          meta_file_kinds.insert("unexpected:" + name);
        }
      } else if (std::regex_match(name, m, std::regex(R"(\d+\.(.+))"))) {
        std::string kind = m[1];
        task_file_kinds.insert(kind);
        if (kind == "data.json") {
          data_jsons.push_back(p);
          json j = json::parse(read_file(p));
          for (auto& [artifact, info] : j["info"].items()) shapes["data.json info"].insert(shape(info));
          j["objects"] = json::object();
          j["info"] = json::object();
          shapes[kind].insert(shape(j));
        } else if (kind.size() > 4 && kind.substr(kind.size() - 4) == ".log") {
          logs.push_back(p);
        } else if (kind != "DONE.lock") {
          shapes[kind].insert(shape(json::parse(read_file(p))));
        }
      } else {
        other_files.insert(name);
      }
    }
  }
};

fs::path fixture_root() { return mfsql::testing::local_fixture() / ".metaflow"; }

class StoregenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new mfsql::testing::TempDir();
    GenerateOptions options;
    options.out_dir = dir_->path();
    options.sample = true;
    options.runs = 3;
    options.foreach_width = 20;
    generate_store(options);
    // The real stores: the public fixture, and the one with code packages (sysmeta code-package).
    fixture_ = new StoreSurvey({fixture_root(), mfsql::testing::shared_dir() / "fixtures" / "metaflow-code" / ".metaflow"});
    mine_ = new StoreSurvey({dir_->path() / ".metaflow"});
  }
  static void TearDownTestSuite() {
    delete mine_;
    delete fixture_;
    delete dir_;
  }
  static inline mfsql::testing::TempDir* dir_ = nullptr;
  static inline StoreSurvey* fixture_ = nullptr;
  static inline StoreSurvey* mine_ = nullptr;
};

TEST_F(StoregenTest, WritesTheSameKindsOfFilesAsMetaflow) {
  EXPECT_EQ(mine_->task_file_kinds, fixture_->task_file_kinds);
  EXPECT_EQ(mine_->meta_file_kinds, fixture_->meta_file_kinds);
  EXPECT_EQ(mine_->sysmeta_fields, fixture_->sysmeta_fields);
  EXPECT_EQ(mine_->other_files, fixture_->other_files);  // latest_run, _resume_done
  for (const auto& name : mine_->private_artifacts) EXPECT_TRUE(fixture_->private_artifacts.count(name)) << name;
  for (const char* name : {"_task_ok", "_success", "_exception", "_foreach_stack", "_graph_info", "_transition",
                           "_current_step", "_foreach_var", "_foreach_num_splits", "_iteration_stack",
                           "_configs_processed", "_foreach_values"})
    EXPECT_TRUE(mine_->private_artifacts.count(name)) << name;
}

TEST_F(StoregenTest, WritesTheSameJsonShapesAsMetaflow) {
  for (const auto& [kind, shapes] : mine_->shapes) {
    ASSERT_TRUE(fixture_->shapes.count(kind)) << "the real store has no " << kind;
    for (const auto& s : shapes) EXPECT_TRUE(fixture_->shapes.at(kind).count(s)) << kind << ": " << s;
  }
  for (const char* kind : {"flow_self", "run_self", "step_self", "task_self", "artifact", "data.json",
                           "data.json info", "attempt.json", "task_begin", "task_end", "runtime", "blob_meta",
                           "sysmeta:foreach-stack", "sysmeta:start_step", "sysmeta:attempt-done"})
    EXPECT_TRUE(mine_->shapes.count(kind)) << kind;
}

TEST_F(StoregenTest, BlobsAreNamedBySha1OfTheirPickleAndSizedAsDataJsonSays) {
  ASSERT_FALSE(mine_->blobs.empty());
  for (const auto& blob : mine_->blobs) {
    if (read_file(blob.string() + "_meta") == R"({"cas_raw": true, "cas_version": 1})") {  // a code package: stored raw
      const std::string raw = read_file(blob);
      EXPECT_EQ(mfsql::sha1_hex(raw), blob.filename().string());
      EXPECT_EQ(raw.substr(0, 2), std::string("\x1f\x8b", 2)) << "a code package is a gzip'd tar";
      continue;
    }
    std::string pickle = mfsql::gunzip(read_file(blob), size_t{1} << 30);
    EXPECT_EQ(mfsql::sha1_hex(pickle), blob.filename().string());
    EXPECT_EQ(pickle.substr(0, 2), std::string("\x80\x04", 2));
  }
  for (const auto& path : mine_->data_jsons) {
    json j = json::parse(read_file(path));
    fs::path flow_dir = dir_->path() / ".metaflow" / fs::relative(path, dir_->path() / ".metaflow").begin()->string();
    for (auto& [name, sha] : j["objects"].items()) {
      std::string s = sha.get<std::string>();
      fs::path blob = flow_dir / "data" / s.substr(0, 2) / s;
      ASSERT_TRUE(fs::exists(blob)) << path << " " << name;
      EXPECT_EQ(mfsql::gunzip(read_file(blob), size_t{1} << 30).size(), j["info"][name]["size"].get<size_t>()) << name;
    }
  }
}

TEST_F(StoregenTest, LogsAndMarkersAreWrittenAsMetaflowWritesThem) {
  std::regex line(R"(\[MFLOG\|0\|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\|runtime\|[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\].*)");
  size_t lines = 0;
  for (const auto& log : mine_->logs) {
    std::string text = read_file(log);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      std::string one = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      EXPECT_TRUE(std::regex_match(one, line)) << log << ": " << one;
      ++lines;
      start = end == std::string::npos ? text.size() : end + 1;
    }
  }
  EXPECT_GT(lines, 50u);
  for (const auto& data : mine_->data_jsons) {
    fs::path lock = data.parent_path() / (data.filename().string().substr(0, data.filename().string().find('.')) + ".DONE.lock");
    EXPECT_EQ(read_file(lock), "\"\"") << lock;
  }
}

// The sha names a blob in the real store and that blob's pickle is ours, byte for byte.
void expect_in_fixture(const std::string& flow, const PyRef& value, const std::string& what) {
  std::string pickle = pickle_dumps(*value);
  std::string sha = mfsql::sha1_hex(pickle);
  fs::path blob = fixture_root() / flow / "data" / sha.substr(0, 2) / sha;
  ASSERT_TRUE(fs::exists(blob)) << what << ": no blob " << sha << " in " << flow;
  EXPECT_EQ(mfsql::gunzip(read_file(blob), size_t{1} << 30), pickle) << what;
}

TEST(StoregenPickles, AreByteIdenticalToRealBlobsForTheSameValues) {
  expect_in_fixture("RetryCatchFlow", py_bool(true), "True");
  expect_in_fixture("RetryCatchFlow", py_bool(false), "False");
  expect_in_fixture("RetryCatchFlow", py_none(), "None");
  expect_in_fixture("RetryCatchFlow", py_list({}), "[]");
  expect_in_fixture("RetryCatchFlow", py_str("RetryCatchFlow"), "the flow name");
  expect_in_fixture("RetryCatchFlow", py_str("flaky"), "a step name");
  expect_in_fixture("TypesFlow", py_float(2.5), "a float");
  expect_in_fixture("TypesFlow", py_str("ünï label ✓"), "a non-ASCII str");
  expect_in_fixture("TypesFlow", py_dict({{"k", py_list({})}, {"nested", py_dict({{"a", py_int(1)}})}}), "a dict");
  std::vector<PyRef> items, values;
  for (int i = 0; i < 30; ++i) {
    items.push_back(py_int(i));
    values.push_back(py_str(std::to_string(i)));
  }
  expect_in_fixture("BranchForeachFlow", py_list(items), "a list of ints");
  expect_in_fixture("BranchForeachFlow", py_list(values), "_foreach_values");

  StepSpec join_bound;
  join_bound.name = "compute";
  join_bound.next = {"join_compute"};
  expect_in_fixture("BranchForeachFlow", transition_value(join_bound), "_transition");
  StepSpec split;
  split.name = "fan";
  split.next = {"compute"};
  split.foreach_artifact = "items";
  expect_in_fixture("BranchForeachFlow", transition_value(split), "a foreach _transition");
  expect_in_fixture("BranchForeachFlow", foreach_stack_value({{"compute", "items", 30, 4, "4"}}), "_foreach_stack");
  expect_in_fixture("BranchForeachFlow",
                    foreach_stack_value({{"outer", "outer_keys", 3, 0, "a"}, {"inner", "inner_values", 4, 2, "3"}}),
                    "a nested _foreach_stack (the class memoized once)");

  UserError error{"builtins", "RuntimeError", "transient failure on attempt 0",
                  "raise RuntimeError(\"transient failure on attempt %d\" % attempt)", 26};
  std::string trace = metaflow_stacktrace(error, "/home/someone/project/retry_catch_flow.py", "flaky",
                                          "/home/someone/.local/lib/python3.11/site-packages");
  expect_in_fixture("RetryCatchFlow", exception_value(error, trace), "_exception (MetaflowExceptionWrapper)");
}

TEST(StoregenPickles, GraphInfoMatchesRealFlows) {
  FlowSpec retry = linear_flow("RetryCatchFlow", "retry_catch_flow.py", {"start", "flaky", "risky", "stubborn", "end"});
  int lines[] = {14, 20, 33, 42, 48};
  for (size_t i = 0; i < 5; ++i) retry.steps[i].line = lines[i];
  auto catch_decorator = [](const char* var, bool print) {
    return DecoratorSpec{"catch", py_dict({{"var", py_str(var)}, {"print_exception", py_bool(print)}})};
  };
  retry.steps[1].decorators = {retry_decorator(2)};
  retry.steps[2].decorators = {catch_decorator("risky_error", true)};
  retry.steps[3].decorators = {retry_decorator(1), catch_decorator("stubborn_error", false)};
  expect_in_fixture("RetryCatchFlow", graph_info_value(retry, "/home/someone/project"), "_graph_info with decorators");

  FlowSpec types = linear_flow("TypesFlow", "types_flow.py", {"start", "make_types", "transform", "end"});
  int type_lines[] = {42, 51, 104, 114};
  for (size_t i = 0; i < 4; ++i) types.steps[i].line = type_lines[i];
  types.parameters = {{"ratio"}, {"loud"}, {"label"}, {"config"}, {"alpha"}};
  expect_in_fixture("TypesFlow", graph_info_value(types, "/home/someone/project"), "_graph_info with parameters");
}

TEST(StoregenPickles, FollowCPythonFramingAndBatching) {
  std::string big = pickle_dumps(*py_str(std::string(70000, 'x')));  // >= 64 KiB: written outside any frame
  EXPECT_EQ(big.size(), 70009u);
  EXPECT_EQ(big.substr(0, 7), std::string("\x80\x04X\x70\x11\x01\x00", 7));
  EXPECT_EQ(big.substr(big.size() - 2), "\x94.");
  std::vector<std::pair<std::string, PyRef>> thousand;
  for (int i = 0; i < 1000; ++i) thousand.push_back({std::to_string(i), py_int(i)});
  std::string dict = pickle_dumps(*py_dict(thousand));  // CPython closes with an empty batch
  EXPECT_EQ(dict.substr(dict.size() - 4), "u(u.");
  EXPECT_EQ(pickle_dumps(*py_int(-7)), std::string("\x80\x04\x95\x06\0\0\0\0\0\0\0J\xf9\xff\xff\xff.", 17));
  EXPECT_EQ(pickle_dumps(*py_int(int64_t{1} << 40)), std::string("\x80\x04\x95\x09\0\0\0\0\0\0\0\x8a\x06\0\0\0\0\0\x01.", 20));
}

TEST(StoregenGzip, FramesBlobsExactlyAsPythonsGzipModule) {
  fs::path dir = fixture_root() / "RetryCatchFlow" / "data";
  int compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.size() != 40 || compared >= 20) continue;
    std::string blob = read_file(entry.path());
    uint32_t mtime = uint8_t(blob[4]) | uint8_t(blob[5]) << 8 | uint8_t(blob[6]) << 16 | uint32_t(uint8_t(blob[7])) << 24;
    EXPECT_EQ(python_gzip(mfsql::gunzip(blob, size_t{1} << 30), mtime), blob) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 20);
}

TEST(StoregenCli, RefusesAnExistingStoreUnlessForcedAndIsDeterministic) {
  mfsql::testing::TempDir a, b;
  GenerateOptions options;
  options.sample = true;
  options.out_dir = a.path();
  generate_store(options);
  EXPECT_THROW(generate_store(options), std::runtime_error);
  options.force = true;
  EXPECT_NO_THROW(generate_store(options));
  options.out_dir = b.path();
  generate_store(options);
  // Same seed, same store: only the absolute root (ds-root, location) differs.
  std::string root_a = fs::canonical(a.path() / ".metaflow").string(), root_b = fs::canonical(b.path() / ".metaflow").string();
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a.path() / ".metaflow")) {
    if (!entry.is_regular_file()) continue;
    fs::path rel = fs::relative(entry.path(), a.path());
    std::string text_a = read_file(entry.path()), text_b = read_file(b.path() / rel);
    for (size_t at; (at = text_a.find(root_a)) != std::string::npos;) text_a.replace(at, root_a.size(), "ROOT");
    for (size_t at; (at = text_b.find(root_b)) != std::string::npos;) text_b.replace(at, root_b.size(), "ROOT");
    EXPECT_EQ(text_a, text_b) << rel;
    ++files;
  }
  EXPECT_GT(files, 1000u);
}

}  // namespace
