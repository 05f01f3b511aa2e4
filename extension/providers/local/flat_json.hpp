#pragma once
// A fast path for the small, flat JSON objects of the local `_meta` folders (a task's _self.json,
// an artifact registration, a metadata entry). A full scan decodes tens of thousands of them, and
// the general parser spent more time building maps than the kernel spent reading the files.
//
// Exactness comes first: the scanner accepts only text it can judge completely (strict JSON
// grammar, ASCII, no escapes, integers that fit int64) and says "not mine" for everything else,
// in which case the caller uses the general decoder (model/json_fields), which also reports damage.
// So a record decodes the same either way; the fast path only decides sooner.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/records.hpp"

namespace mfsql::flat_json {

struct Field {
  enum Kind { kString, kInt, kNull, kBool, kStringArray, kOther };
  std::string_view key;
  Kind kind = kOther;
  std::string_view text;  // kString: the characters between the quotes
  int64_t number = 0;     // kInt
  size_t first_item = 0, item_count = 0;  // kStringArray: a range of Object::items()
};

// A top-level object's members, in order. parse() is false when the text is not something the
// fast path handles exactly (including any invalid JSON). Reusable: parsing again keeps the
// buffers, so a scan of thousands of records allocates nothing here.
class Object {
 public:
  bool parse(std::string_view text);
  // The last member named `key` (JSON decoders keep the last of duplicate keys); null when absent.
  const Field* find(std::string_view key) const;
  std::string_view item(const Field& f, size_t i) const { return items_[f.first_item + i]; }

 private:
  std::vector<Field> fields_;
  std::vector<std::string_view> items_;
};

// Each returns nullopt when the fast path cannot decide; the caller then uses model/json_fields.
std::optional<int64_t> ts_epoch(std::string_view text);
std::optional<RunRecord> run(std::string_view text, const ObjectPath& path);
std::optional<ArtifactRecord> artifact(std::string_view text, const ObjectPath& task, int attempt);
std::optional<MetadataEntry> metadata(std::string_view text, const ObjectPath& task);
// The attempt an attempt-done entry names: outer nullopt undecided, inner nullopt "names none".
std::optional<std::optional<int>> attempt_done(std::string_view text);

}  // namespace mfsql::flat_json
