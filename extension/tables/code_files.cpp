// code_files: one row per file of a run's code package (Run.code's tarball), so that "the flow
// file of run X" and "which runs changed it" are one query each:
//   SELECT text FROM code_files WHERE flow = ? AND run_id = ? AND path = 'flow.py'
// Listing a package (path, size, sha1) inflates it once per connection (remembered by its sha);
// content and text read it again only when selected, holding only the files the query fixed.
#include <map>

#include "model/code_package.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kPath, kSize, kSha1, kContent, kText, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id (a run without a code package has no rows)"},
    {"path", Type::Text, kKey, 400, "The file's name in the package, e.g. 'flow.py' or '.mf_code/metaflow/client/core.py'"},
    {"size", Type::Integer, kPlain, 0, "Bytes"},
    {"sha1", Type::Text, kPlain, 0, "Hex SHA-1 of the content: equal across runs when the file did not change"},
    {"content", Type::Blob, kHidden, 0,
     "The bytes (NULL past 64 MiB); not in SELECT *, select it by name: read from the package only then"},
    {"text", Type::Text, kHidden, 0, "The content when it is UTF-8, else NULL; not in SELECT *, select it by name"},
};

constexpr PathColumns kPathColumns{.flow = kFlow, .run_id = kRunId};

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;  // overlong, surrogate
    i += n;
  }
  return true;
}

void put_rows(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const ObjectPath& run = found.run->path;
  auto ref = client::run_code_ref(store, run);
  if (!ref) return;
  auto listing = client::code_package(store, run.flow, *ref);
  const std::vector<std::string>* paths = plan.values(kPath);
  auto wanted = [&](const std::string& path) {
    return !paths || std::find(paths->begin(), paths->end(), path) != paths->end();
  };
  std::map<std::string, size_t> row_of;
  for (const CodeFile& file : listing->files) {
    if (!wanted(file.path)) continue;
    row_of[file.path] = out.size();
    engine::Row& row = out.emplace_back(kCount);
    put_path(row, run, kPathColumns);
    row[kPath] = Value::of(file.path);
    row[kSize] = Value::of(file.size);
    row[kSha1] = Value::of(file.sha1);
  }
  if (row_of.empty() || !(plan.uses(kContent) || plan.uses(kText))) return;
  // One more pass over the package for every selected file of this run (a repeated name: the last copy).
  client::read_code_files(store, run.flow, *ref, [&](const std::string& path) { return row_of.count(path) > 0; },
                          [&](const std::string& path, std::optional<std::string> content) {
                            engine::Row& row = out[row_of[path]];
                            row[kText] = content && plan.uses(kText) && is_utf8(*content) ? Value::of(*content) : Value::null();
                            row[kContent] = content && plan.uses(kContent) ? Value::blob(std::move(*content)) : Value::null();
                          });
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  // A few runs at a time: with content selected, a run's rows hold the files they show.
  return walk(source, plan, kPathColumns, {.level = Level::kRun, .objects_at_once = 4, .min_per_thread = 1, .rows_read = true},
              put_rows);
}

}  // namespace

const engine::TableSpec kCodeFilesTable = {
    .name = "code_files",
    .doc = "Every file of every run's code package (Run.code's tarball), with its size and SHA-1; content on request.",
    .columns = kColumns,
    .scan_rows = 100000,
    .rows = rows,
    .example = "SELECT run_id, path, size, sha1 FROM code_files WHERE flow = 'HelloFlow' AND path NOT LIKE '.mf_%';",
};

}  // namespace mfsql::tables
