// The pickle decoder against the oracle: every artifact value that Metaflow's own client dumped
// must come out of our decoder as the same JSON. Unit tests below cover hostile input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "decode/pickle.hpp"
#include "support/pickle_cases.hpp"
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
  std::map<std::string, std::optional<std::string>> classes;  // by CAS key: pickled_class_name
  size_t classes_compared = 0, classes_matched = 0;
  size_t compared = 0, matched = 0, types_compared = 0, types_matched = 0, shas_decoded = 0;
  std::vector<std::string> problems;

  const OJson* decode(const std::string& flow, const std::string& sha) {
    if (auto it = decoded.find(sha); it != decoded.end()) return &it->second;
    if (failures.count(sha)) return nullptr;
    fs::path blob = store / flow / "data" / sha.substr(0, 2) / sha;
    try {
      std::string pickle = mfsql::gunzip(mfsql::testing::read_file(blob), size_t{1} << 30);
      classes[sha] = mfsql::pickled_class_name(pickle);
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
    if (art.contains("type") && classes.count(sha)) {
      // The oracle's type is type(v).__module__ + "." + type(v).__qualname__; the pickle names it.
      ++classes_compared;
      if (classes[sha] == art["type"].get<std::string>()) ++classes_matched;
      else problems.push_back(where + ": pickled class " + classes[sha].value_or("(none)") + " want " +
                              art["type"].get<std::string>());
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
            << "; pickled classes compared: " << walk.classes_compared << ", matched: " << walk.classes_matched
            << std::endl;
  for (size_t i = 0; i < walk.problems.size() && i < 30; ++i) std::cout << "  " << walk.problems[i] << "\n";
  EXPECT_GT(walk.compared, 4000u);
  EXPECT_EQ(walk.compared, walk.matched);
  EXPECT_EQ(walk.types_compared, walk.types_matched);
  EXPECT_EQ(walk.classes_compared, walk.compared);
  EXPECT_EQ(walk.classes_compared, walk.classes_matched);
  EXPECT_TRUE(walk.problems.empty()) << walk.problems.size() << " problems";
}

// ---- values the fixture does not have: tests/support/pickle_cases.hpp ----
using mfsql::test::bytes;
using mfsql::test::Case;
using mfsql::test::from_hex;
using mfsql::test::kCases;

TEST(PickleValues, PythonWrittenPicklesRenderByTheRules) {
  size_t matched = 0;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Json got = Json::parse(mfsql::unpickle_to_json(from_hex(c.hex)).dump());
    EXPECT_EQ(got, Json::parse(c.json));
    matched += got == Json::parse(c.json);
  }
  std::cout << "[pickle values] " << matched << " of " << std::size(kCases) << " generated cases matched" << std::endl;
}

TEST(PickleValues, NegativeZeroKeepsItsSign) {
  OJson v = mfsql::unpickle_to_json(std::string("\x80\x04G\x80\0\0\0\0\0\0\0.", 12));
  ASSERT_TRUE(v.is_number_float());
  EXPECT_TRUE(std::signbit(v.get<double>()));
  EXPECT_EQ(mfsql::python_json_dumps(v), "-0.0");
}

TEST(PickleValues, InvalidUtf8BecomesReplacementCharacters) {
  // '\ud800' as Python writes it (surrogatepass), then a stray continuation byte.
  OJson v = mfsql::unpickle_to_json(bytes({0x80, 4, 0x8c, 5, 0xed, 0xa0, 0x80, 'a', 0x80, '.'}));
  EXPECT_EQ(v, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "a" "\xef\xbf\xbd");
  EXPECT_NO_THROW(v.dump());
}

TEST(PickleValues, PythonJsonTextMatchesJsonDumps) {
  // Expected strings are json.dumps(v, ensure_ascii=False, separators=(',', ':')) from CPython.
  OJson v = OJson::array({1e16, 1e15, 1e-5, 0.0001, 1.5, 100.0, 1.7976931348623157e308, 5e-324, 0.1, -2.5e-7});
  EXPECT_EQ(mfsql::python_json_dumps(v),
            "[1e+16,1000000000000000.0,1e-05,0.0001,1.5,100.0,1.7976931348623157e+308,5e-324,0.1,-2.5e-07]");
  OJson o = {{"b", "\x01\"\\\n é"}, {"a", nullptr}};
  EXPECT_EQ(mfsql::python_json_dumps(o), "{\"b\":\"\\u0001\\\"\\\\\\n é\",\"a\":null}");
  EXPECT_EQ(mfsql::python_json_dumps(o, true), "{\"a\":null,\"b\":\"\\u0001\\\"\\\\\\n é\"}");
}

TEST(PickleValues, TypeNamesFromRepr) {
  EXPECT_EQ(mfsql::python_type_from_repr("<class 'int'>"), "builtins.int");
  EXPECT_EQ(mfsql::python_type_from_repr("<class 'NoneType'>"), "builtins.NoneType");
  EXPECT_EQ(mfsql::python_type_from_repr("<class 'pandas.core.frame.DataFrame'>"), "pandas.core.frame.DataFrame");
  EXPECT_EQ(mfsql::python_type_from_repr("<enum 'Color'>"), "Color");
  EXPECT_EQ(mfsql::python_type_from_repr("not a repr"), "not a repr");
}

// ---- protocols 0 and 1: the text opcodes, as CPython's pickle.py reads them ----
TEST(PickleProtocols, TextOpcodesDecodeAsPythonReadsThem) {
  auto json = [](std::string_view p) { return mfsql::python_json_dumps(mfsql::unpickle_to_json(p)); };
  EXPECT_EQ(json("N."), "null");  // no PROTO opcode: protocol 0
  EXPECT_EQ(json("(I01\nI00\nI-2147483649\nL123456789012345678901234567890L\nL-5L\nF1e+16\nFnan\nF-inf\nl."),
            "[true,false,-2147483649,\"123456789012345678901234567890\",-5,1e+16,\"NaN\",\"-Infinity\"]");
  // STRING: a quoted bytes literal with escapes (an unknown one kept); UNICODE: raw-unicode-escape.
  EXPECT_EQ(json("S'a\\x41\\n\\'\\101\\q'\n."), "\"aA\\n'A\\\\q\"");
  EXPECT_EQ(json("S\"\\xff\"\n."), "{\"$bytes\":\"/w==\"}");
  EXPECT_EQ(json("V\\u20ac\\\\u0041x\\x\xe9\n."), "\"\xe2\x82\xac\\\\\\\\u0041x\\\\x\xc3\xa9\"");
  EXPECT_EQ(json("V\\ud800\n."), "\"\xef\xbf\xbd\"");
  // PUT/GET with decimal indices; a list that contains itself.
  EXPECT_EQ(json("(lp0\nI1\nag0\na."), "[1,{\"$recursion\":true}]");
  // INST (a class named inline) and OBJ (the class on the stack), then BUILD.
  EXPECT_EQ(json("(i__main__\nK\n(dS'a'\nI1\nsb."), "{\"$object\":\"__main__.K\",\"attrs\":{\"a\":1}}");
  EXPECT_EQ(json("(c__main__\nK\no}S'a'\nI1\nsb."), "{\"$object\":\"__main__.K\",\"attrs\":{\"a\":1}}");
  EXPECT_EQ(json("(c__main__\nK\no."), "{\"$object\":\"__main__.K\",\"attrs\":{}}");
  // Protocol 1's binary opcodes with protocol 0's containers.
  EXPECT_EQ(json(bytes({']', 'q', 0, '(', 'K', 1, 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 'U', 1, 'x', 'e', '.'})), "[1,1.5,\"x\"]");
}

TEST(PickleProtocols, Protocol5BuffersInBand) {
  // BYTEARRAY8, and READONLY_BUFFER on it (what an in-band PickleBuffer becomes).
  std::string p = bytes({0x80, 5, 0x96, 2, 0, 0, 0, 0, 0, 0, 0, 'h', 'i', 0x98, '.'});
  EXPECT_EQ(mfsql::python_json_dumps(mfsql::unpickle_to_json(p)), "{\"$bytes\":\"aGk=\"}");
  EXPECT_EQ(mfsql::pickled_class_name(p), "builtins.bytearray");
  EXPECT_EQ(mfsql::pickled_class_name(bytes({0x80, 5, 'C', 1, 'h', '.'})), "builtins.bytes");
}

TEST(PickleClassNames, TopLevelClassOfEveryKind) {
  auto name = [](std::string_view p) { return mfsql::pickled_class_name(p).value_or("(none)"); };
  EXPECT_EQ(name("N."), "builtins.NoneType");
  EXPECT_EQ(name("I01\n."), "builtins.bool");
  EXPECT_EQ(name("L99999999999999999999999L\n."), "builtins.int");
  EXPECT_EQ(name("(lp0\n."), "builtins.list");
  EXPECT_EQ(name("(t."), "builtins.tuple");
  EXPECT_EQ(name("(d."), "builtins.dict");
  // Python >= 3.11 enum member: getattr(Class, 'NAME') is an instance of Class.
  EXPECT_EQ(name(from_hex("80049537000000000000008c086275696c74696e73948c07676574617474729493948c085f5f6d61696e5f5f948c05436f6c6f729493948c0352454494869452942e")),
            "__main__.Color");
  // A class referenced as a value is not an instance of anything the pickle names.
  EXPECT_EQ(name("c__main__\nK\n."), "(none)");
  EXPECT_EQ(name("bad"), "(none)");
}
