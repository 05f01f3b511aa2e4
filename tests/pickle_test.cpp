// The pickle decoder against the oracle: every artifact value that Metaflow's own client dumped
// must come out of our decoder as the same JSON. Unit tests below cover hostile input.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "decode/pickle.hpp"
#include "support/test_env.hpp"
#include "util/gzip.hpp"
#include "util/sha1.hpp"

namespace fs = std::filesystem;
using mfsql::UnpickleError;
using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

namespace {

std::string base64_decode(const std::string& text) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    size_t v = alphabet.find(c);
    if (v == std::string::npos) continue;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

size_t code_points(const std::string& utf8) {
  size_t n = 0;
  for (char c : utf8) n += (static_cast<uint8_t>(c) & 0xc0) != 0x80;
  return n;
}

// The oracle's stand-in for a large value, recomputed from our rendering.
Json omitted_form(const OJson& rendered, const Json& oracle) {
  std::string text = mfsql::python_json_dumps(rendered);
  Json out = {{"$omitted", true}, {"json_chars", code_points(text)}, {"json_sha1", mfsql::sha1_hex(text)}};
  if (oracle.contains("len")) {
    if (rendered.is_object() && rendered.contains("$bytes")) {
      std::string raw = base64_decode(rendered["$bytes"].get<std::string>());
      out["len"] = raw.size();
      out["bytes_sha1"] = mfsql::sha1_hex(raw);
    } else if (rendered.is_string()) {
      out["len"] = code_points(rendered.get<std::string>());
    } else if (rendered.is_object() && rendered.contains("$dict")) {
      out["len"] = rendered["$dict"].size();
    } else {
      out["len"] = rendered.size();
    }
  }
  return out;
}

struct Walk {
  fs::path store = mfsql::testing::local_fixture() / ".metaflow";
  std::map<std::string, OJson> decoded;           // by CAS key: identical values share a blob
  std::map<std::string, std::string> failures;   // by CAS key: why it did not decode
  size_t compared = 0, matched = 0, types_compared = 0, types_matched = 0, shas_decoded = 0;
  std::vector<std::string> problems;

  const OJson* decode(const std::string& flow, const std::string& sha) {
    if (auto it = decoded.find(sha); it != decoded.end()) return &it->second;
    if (failures.count(sha)) return nullptr;
    fs::path blob = store / flow / "data" / sha.substr(0, 2) / sha;
    try {
      std::string pickle = mfsql::gunzip(mfsql::testing::read_file(blob), size_t{1} << 30);
      return &decoded.emplace(sha, mfsql::unpickle_to_json(pickle)).first->second;
    } catch (const std::exception& e) {
      failures[sha] = e.what();
      return nullptr;
    }
  }

  static Json data_json(const fs::path& task_dir, int attempt) {
    fs::path file = task_dir / (std::to_string(attempt) + ".data.json");
    if (!fs::exists(file)) return nullptr;
    return Json::parse(mfsql::testing::read_file(file));
  }

  void artifact(const std::string& flow, const std::string& where, const Json& art, const Json& info) {
    std::string sha = art["sha"];
    const OJson* mine = decode(flow, sha);
    if (art.contains("value")) {
      ++compared;
      const Json& want = art["value"];
      if (!mine) {
        problems.push_back(where + ": " + failures[sha]);
      } else {
        Json got = Json::parse(mine->dump());
        if (want.is_object() && want.contains("$omitted")) got = omitted_form(*mine, want);
        if (got == want) ++matched;
        else problems.push_back(where + ": got " + got.dump().substr(0, 300) + " want " + want.dump().substr(0, 300));
      }
    }
    std::string name = art["name"];
    if (info.is_object() && info.contains(name)) {
      ++types_compared;
      std::string from_repr = mfsql::python_type_from_repr(info[name]["type"].get<std::string>());
      if (from_repr == art["type"]) ++types_matched;
      else problems.push_back(where + ": type " + from_repr + " want " + art["type"].get<std::string>());
    }
  }

  void task(const std::string& flow, const Json& task) {
    std::string pathspec = task["pathspec"];
    fs::path dir = store / pathspec;
    int attempt = task.value("attempt", -1);
    if (attempt < 0)  // the parameters task does not say: take the newest attempt on disk
      for (int a = 0; a < 6; ++a)
        if (fs::exists(dir / (std::to_string(a) + ".data.json"))) attempt = a;
    Json info = attempt >= 0 ? data_json(dir, attempt) : Json(nullptr);
    if (info.is_object()) info = info["info"];
    for (const char* group : {"artifacts", "private_artifacts"})
      if (task.contains(group))
        for (const auto& [name, art] : task[group].items()) artifact(flow, pathspec + "/" + name, art, info);
    // Earlier attempts list only CAS keys; their values are still decoded to prove they can be.
    if (task.contains("attempts"))
      for (const auto& past : task["attempts"])
        for (const char* group : {"artifact_shas", "private_artifact_shas"})
          if (past.contains(group))
            for (const auto& [name, sha] : past[group].items()) {
              ++shas_decoded;
              if (!decode(flow, sha.get<std::string>()))
                problems.push_back(pathspec + " attempt " + past["attempt"].dump() + " " + name + ": " +
                                   failures[sha.get<std::string>()]);
            }
  }
};

}  // namespace

TEST(PickleOracle, EveryArtifactValueMatches) {
  fs::path oracle_file = mfsql::testing::local_fixture() / "oracle.json";
  ASSERT_TRUE(fs::exists(oracle_file)) << oracle_file;
  Json oracle = Json::parse(mfsql::testing::read_file(oracle_file));
  Walk walk;
  for (const auto& flow : oracle["flows"]) {
    std::string flow_name = flow["name"];
    for (const auto& run : flow["runs"]) {
      if (run.contains("parameters_task") && run["parameters_task"].is_object())
        walk.task(flow_name, run["parameters_task"]);
      for (const auto& step : run["steps"])
        for (const auto& task : step["tasks"]) walk.task(flow_name, task);
    }
  }
  std::cout << "[pickle oracle] values compared: " << walk.compared << ", matched: " << walk.matched
            << "; types compared: " << walk.types_compared << ", matched: " << walk.types_matched
            << "; past-attempt blobs decoded: " << walk.shas_decoded << "; distinct blobs: " << walk.decoded.size()
            << std::endl;
  for (size_t i = 0; i < walk.problems.size() && i < 30; ++i) std::cout << "  " << walk.problems[i] << "\n";
  EXPECT_GT(walk.compared, 4000u);
  EXPECT_EQ(walk.compared, walk.matched);
  EXPECT_EQ(walk.types_compared, walk.types_matched);
  EXPECT_TRUE(walk.problems.empty()) << walk.problems.size() << " problems";
}
