// The pickle decoder against pickles that Debian's Python wrote with pandas 1.5 and numpy 1.24
// (tests/pickles/make_pickles.py): every case, in every protocol it was written with (0 to 5),
// must decode to the JSON that the oracle's rules (../shared/tools/render_reference.py, plus
// tables.md's renderings where those fall through) give, and pickled_class_name must name the
// value's class as type(v).__module__ + "." + type(v).__qualname__ does.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <iostream>

#include "decode/pickle.hpp"
#include "support/test_db.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

namespace {

fs::path pickles_dir() { return fs::path(MFSQL_SOURCE_DIR) / "tests" / "pickles"; }

const OJson& cases() {
  static const OJson all = [] {
    fs::path file = pickles_dir() / "expected.json";
    return OJson::parse(mfsql::testing::read_file(file))["cases"];
  }();
  return all;
}

// The text Python's json.dumps gives, so 2 and 2.0 differ as they do for the oracle.
std::string text_of(const OJson& value) { return mfsql::python_json_dumps(value); }

std::string pickle_of(const std::string& name, int protocol) {
  return mfsql::testing::read_file(pickles_dir() / (name + ".p" + std::to_string(protocol) + ".pkl"));
}

const OJson& expected_value(const OJson& entry, int protocol) {
  std::string key = std::to_string(protocol);
  if (entry.contains("by_protocol") && entry["by_protocol"].contains(key)) return entry["by_protocol"][key];
  if (entry.contains("decoded")) return entry["decoded"];  // what the pickle can carry (see make_pickles.py)
  return entry["value"];
}

}  // namespace

TEST(PandasPickles, EveryCaseInEveryProtocolRendersByTheRules) {
  ASSERT_GT(cases().size(), 100u);
  size_t compared = 0, matched = 0;
  std::vector<std::string> problems;
  for (const auto& [name, entry] : cases().items()) {
    for (int protocol : entry["protocols"]) {
      ++compared;
      std::string where = name + ".p" + std::to_string(protocol);
      std::string want = text_of(expected_value(entry, protocol));
      try {
        std::string got = text_of(mfsql::unpickle_to_json(pickle_of(name, protocol)));
        if (got == want) ++matched;
        else problems.push_back(where + ":\n    got  " + got.substr(0, 600) + "\n    want " + want.substr(0, 600));
      } catch (const std::exception& e) {
        problems.push_back(where + ": " + e.what());
      }
    }
  }
  std::cout << "[pandas pickles] " << matched << " of " << compared << " pickles matched" << std::endl;
  for (size_t i = 0; i < problems.size() && i < 40; ++i) std::cout << "  " << problems[i] << "\n";
  EXPECT_EQ(matched, compared);
}

TEST(PandasPickles, ClassNamesAreModuleAndQualname) {
  size_t compared = 0, matched = 0;
  std::vector<std::string> problems;
  for (const auto& [name, entry] : cases().items()) {
    std::string want = entry["python_type"];
    for (int protocol : entry["protocols"]) {
      ++compared;
      auto got = mfsql::pickled_class_name(pickle_of(name, protocol));
      if (got == want) ++matched;
      else problems.push_back(name + ".p" + std::to_string(protocol) + ": got " + got.value_or("(none)") + " want " + want);
    }
  }
  std::cout << "[pandas pickles] class names: " << matched << " of " << compared << std::endl;
  for (size_t i = 0; i < problems.size() && i < 40; ++i) std::cout << "  " << problems[i] << "\n";
  EXPECT_EQ(matched, compared);
}

TEST(PandasPickles, EnumClassCarriesItsModule) {
  // data.json records str(type(v)), "<enum 'Color'>", which has no module; the pickle has it.
  for (int protocol : {0, 2, 4, 5}) {
    SCOPED_TRACE(protocol);
    EXPECT_EQ(mfsql::pickled_class_name(pickle_of("enum_member", protocol)), "shop.models.Color");
  }
  EXPECT_EQ(mfsql::python_type_from_repr("<enum 'Color'>"), "Color");
  EXPECT_EQ(mfsql::pickled_class_name(pickle_of("plain_object", 2)), "shop.models.Outer.Inner");
  EXPECT_EQ(mfsql::pickled_class_name(std::string("garbage")), std::nullopt);
}

TEST(PandasPickles, TruncatedAndMutatedFilesAreRefusedNotCrashed) {
  // Every prefix, and many byte flips, of a few of the larger pickles in each protocol family:
  // decoded (maybe to a generic $object) or refused, nothing else.
  uint32_t seed = 2024;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  size_t refused = 0, decoded = 0;
  mfsql::UnpickleLimits limits;
  limits.max_rendered = 1 << 16;  // mutated memo references can make exponential trees
  for (const char* name : {"df_nullable.p0", "df_mixed.p1", "df_datetime_utc.p2", "series_category.p4",
                           "np_structured.p5", "index_multi.p5", "df_category.p5", "np_datetime_scalars.p4"}) {
    std::string pickle = mfsql::testing::read_file(pickles_dir() / (std::string(name) + ".pkl"));
    std::vector<std::string> variants;
    for (size_t n = 0; n < pickle.size(); ++n) variants.push_back(pickle.substr(0, n));
    for (int m = 0; m < 300; ++m) {
      std::string mutated = pickle;
      for (int k = 0; k < 3; ++k) mutated[next() % mutated.size()] = static_cast<char>(next() >> 16);
      variants.push_back(std::move(mutated));
    }
    for (const std::string& v : variants) {
      try {
        mfsql::unpickle_to_json(v, limits);
        mfsql::pickled_class_name(v, limits);
        ++decoded;
      } catch (const mfsql::CorruptRecord&) {
        ++refused;
      }
    }
  }
  std::cout << "[pandas pickles hostile] " << decoded << " variants decoded, " << refused << " refused" << std::endl;
  EXPECT_GT(refused, 1000u);
}

// ---- the SQL functions over the corpus: a scan goes on past bad blobs ----
TEST(UnpickleFunctions, BadBlobsGiveNullAndTheReasonComesFromTheErrorFunction) {
  mfsql::testing::TestDb db;
  db.query("CREATE TEMP TABLE blobs(name TEXT, b BLOB)");
  sqlite3_stmt* insert = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.handle(), "INSERT INTO blobs VALUES (?, ?)", -1, &insert, nullptr), SQLITE_OK);
  auto add = [&](const std::string& name, const std::string& bytes) {
    sqlite3_bind_text(insert, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE);
    sqlite3_reset(insert);
  };
  size_t good = 0;
  for (const auto& [name, entry] : cases().items())
    for (int protocol : entry["protocols"]) {
      add(name + ".p" + std::to_string(protocol), pickle_of(name, protocol));
      ++good;
    }
  add("bad:truncated", pickle_of("df_mixed", 5).substr(0, 100));
  add("bad:out-of-band", std::string("\x80\x05\x97\x98.", 5));
  add("bad:text", "hello");
  sqlite3_finalize(insert);

  EXPECT_EQ(db.scalar("SELECT count(*) FROM blobs WHERE metaflow_unpickle(b) IS NOT NULL"), std::to_string(good));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM blobs WHERE metaflow_unpickle_error(b) IS NULL"), std::to_string(good));
  mfsql::testing::Rows bad = db.query(
      "SELECT name, metaflow_unpickle(b), metaflow_unpickle_error(b) FROM blobs "
      "WHERE metaflow_unpickle(b) IS NULL ORDER BY name");
  ASSERT_EQ(bad.size(), 3u);
  EXPECT_EQ(bad[0][0], "bad:out-of-band");
  EXPECT_NE(bad[0][2]->find("out-of-band buffer"), std::string::npos) << *bad[0][2];
  EXPECT_NE(bad[0][2]->find("not in the pickle's bytes"), std::string::npos) << *bad[0][2];
  EXPECT_EQ(bad[1][0], "bad:text");
  EXPECT_EQ(bad[2][0], "bad:truncated");
  EXPECT_NE(bad[2][2]->find("runs past the end of the data"), std::string::npos) << *bad[2][2];
  for (const auto& row : bad) EXPECT_FALSE(row[1].has_value());
  // The JSON is the decoder's, and json_extract reads it.
  EXPECT_EQ(db.scalar("SELECT json_extract(metaflow_unpickle(b), '$.\"$dataframe\".dtypes[5]') FROM blobs "
                      "WHERE name = 'df_mixed.p5'"),
            "datetime64[ns]");
  EXPECT_EQ(db.scalar("SELECT metaflow_unpickle(b) FROM blobs WHERE name = 'plain_scalars.p0'"),
            mfsql::unpickle_to_json(pickle_of("plain_scalars", 0)).dump());
  EXPECT_EQ(db.scalar("SELECT metaflow_unpickle(NULL) IS NULL AND metaflow_unpickle_error(NULL) IS NULL"), "1");
}
