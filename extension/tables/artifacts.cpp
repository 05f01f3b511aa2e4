// artifacts: one row per artifact of a task's shown attempt (or of `attempt = N`), with its
// decoded value and its bytes. What each column costs:
//   name, sha, encoding, created_at, attempt  the registration files in _meta (no blob, no data.json)
//   size, python_type, serializer             + <attempt>.data.json, read once per task attempt
//   value, blob                               + the blob itself, only when the query uses them
#include <algorithm>
#include <map>

#include "decode/pickle.hpp"
#include "model/artifact_info.hpp"
#include "model/client.hpp"
#include "tables/attempt_filter.hpp"
#include "tables/object_columns.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kTaskId, kName, kPathspec, kPathComponents, kParent, kUserTags, kSystemTags, kTags,
           kPrivate, kAttempt, kSha, kCreatedAt, kEncoding, kSerializer,
           kPythonType, kSize, kValue, kBlob, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"name", Type::Text, kKey, 30, "Artifact name; names starting with _ appear only when asked for by name"},
    {"pathspec", Type::Text, kKey | kPattern, 1000000, "Flow/Run/Step/Task/name"},
    {"path_components", Type::Json, kPlain, 0, "The client's path_components: [flow, run_id, step, task_id, name]"},
    {"parent", Type::Text, kPlain, 0, "The task's pathspec"},
    {"user_tags", Type::Json, kPlain, 0, "The run's user tags (the client gives an artifact its run's tags)"},
    {"system_tags", Type::Json, kPlain, 0, "The run's system tags"},
    {"tags", Type::Json, kPlain, 0, "Union of the run's tags"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, _task_ok, ...), as in FROM artifacts(1); 0 by default"},
    {"attempt", Type::Integer, kHidden | kArgument, 0,
     "Argument: the attempt whose artifacts are read (= N or IN (...)); by default the one the client shows"},
    {"sha", Type::Text, kPlain, 0, "SHA-1 of the serialized bytes (the content-addressed key)"},
    {"created_at", Type::Text, kPlain, 0, "When the artifact was registered (the attempt's end), UTC"},
    {"encoding", Type::Text, kPlain, 0, "Serializer encoding, e.g. pickle-v4 or gzip+pickle-v4"},
    {"serializer", Type::Text, kPlain, 0, "The package whose serializer wrote it (data.json serializer_info.source)"},
    {"python_type", Type::Text, kPlain, 0, "module.Class of the value, e.g. builtins.int"},
    {"size", Type::Integer, kPlain, 0, "Bytes of the serialized value, uncompressed"},
    {"value", Type::Json, kPlain, 0, "The value as JSON (NULL past the per-connection cap or for non-pickle encodings)"},
    {"blob", Type::Blob, kHidden, 0, "The serialized bytes, uncompressed (pickle.loads them in Python); not in SELECT *, select it by name"},
};

constexpr uint64_t bit(int c) { return uint64_t{1} << c; }
constexpr uint64_t kNeedsInfo = bit(kSize) | bit(kPythonType) | bit(kSerializer);
// SQLite's default SQLITE_MAX_LENGTH: a longer blob could not be returned anyway.
constexpr size_t kMaxBlobBytes = 1000000000;

// The value column: NULL for encodings mfsql cannot decode, values past the cap, and blobs that
// fail to decode (Store::value reports those as damaged records).
Value value_of(Store& store, const ArtifactRecord& a, const std::string& encoding,
               const std::optional<int64_t>& known_size, const std::string* serialized) {
  if (!Store::is_pickle_encoding(encoding)) return Value::null();
  if (known_size && static_cast<uint64_t>(*known_size) > store.settings().max_value_bytes) return Value::null();
  return guarded([&] {
    ArtifactRecord as_encoded = a;
    as_encoded.content_type = encoding;
    JsonValue v = store.value(as_encoded, serialized);
    return v ? Value::json(client::decoded("The value of " + a.task.pathspec() + "/" + a.name,
                                           [&] { return python_json_dumps(*v); }))
             : Value::null();
  });
}

// The blob and its value, for a row the query keeps. Without data.json, the size is the blob's.
void put_bytes(Store& store, const ArtifactRecord& a, const std::string& encoding, std::optional<int64_t> size,
               const engine::Plan& plan, engine::Row& row) {
  std::optional<std::string> bytes;
  if (plan.uses(kBlob)) {
    row[kBlob] = guarded([&] {
      bytes = store.blob(a.task.flow, a.sha, kMaxBlobBytes);
      return Value::blob(*bytes);
    });
    if (bytes && !size) row[kSize] = Value::of(static_cast<int64_t>(bytes->size()));
  }
  if (plan.uses(kValue)) row[kValue] = value_of(store, a, encoding, size, bytes ? &*bytes : nullptr);
}

void fill(Store& store, const ArtifactRecord& a, const ArtifactInfo* index, const engine::Plan& plan, engine::Row& row) {
  row[kAttempt] = Value::of(int64_t{a.attempt});
  row[kSha] = Value::of(a.sha);
  if (plan.uses(kCreatedAt)) row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(a.ts_ms));
  // The registration's content_type is what the client decodes by; data.json says the same.
  std::string encoding = a.content_type;
  if (encoding.empty() && index && index->encoding) encoding = *index->encoding;
  row[kEncoding] = encoding.empty() ? Value::null() : Value::of(encoding);
  std::optional<int64_t> size;
  if (index) {
    size = index->size;
    row[kSerializer] = Value::maybe(index->serializer);
    if (index->type_repr) row[kPythonType] = Value::of(python_type_from_repr(*index->type_repr));
  }
  // data.json records str(type(v)), which names no module for some classes (`<enum 'Color'>`):
  // the class is then read from the pickle itself, for rows the query keeps.
  if (plan.uses(kPythonType) && index && index->type_repr && index->type_repr->rfind("<class ", 0) != 0 &&
      Store::is_pickle_encoding(encoding))
    row.defer(engine::column_bits({kPythonType}), [&store, a = &a](engine::Row& r) {
      r[kPythonType] = guarded([&] {
        auto name = pickled_class_name(store.blob(a->task.flow, a->sha, kMaxBlobBytes));
        return name ? Value::of(*name) : r[kPythonType];
      });
    });
  row[kSize] = Value::maybe(size);
  if (!plan.uses(kBlob) && !plan.uses(kValue)) return;
  uint64_t deferred = engine::column_bits({kBlob, kValue});
  if (!size && plan.uses(kBlob)) deferred |= engine::column_bits({kSize});
  row.defer(deferred, [&store, &plan, a = &a, encoding, size](engine::Row& r) { put_bytes(store, *a, encoding, size, plan, r); });
}

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId,
                            .pathspec = kPathspec, .name = kName, .private_names = kPrivate};

// The data.json of each task attempt of a batch, read once for all its artifacts.
using InfoByAttempt = std::map<std::pair<std::string, int>, ArtifactInfoIndex>;

constexpr uint64_t kRunTags = engine::column_bits({kUserTags, kSystemTags, kTags});

void put_row(Store& store, const Found& found, const InfoByAttempt& indexes, const engine::Plan& plan,
             std::vector<engine::Row>& out) {
  const ArtifactRecord& a = found.artifact;
  engine::Row& row = out.emplace_back(kCount);
  put_path(row, a.task, kPath);
  row[kName] = Value::of(a.name);
  row[kPathspec] = Value::of(a.task.pathspec() + "/" + a.name);
  row[kPrivate] = private_value(plan, kPrivate);
  if (plan.uses(kPathComponents)) row[kPathComponents] = Value::json(path_components_json(a.task, &a.name));
  if (plan.uses(kParent)) row[kParent] = Value::of(a.task.pathspec());
  if (plan.columns_used & kRunTags) put_run_tags(row, kUserTags, *found.run, plan);
  if (a.damaged) {  // a registration that cannot be read: the row stands, the rest is NULL
    row[kAttempt] = Value::of(int64_t{a.attempt});
    return;
  }
  const ArtifactInfo* index = nullptr;
  if (auto it = indexes.find({a.task.pathspec(), a.attempt}); it != indexes.end())
    if (auto entry = it->second.find(a.name); entry != it->second.end()) index = &entry->second;
  fill(store, a, index, plan, row);
}

// Before a batch's rows: its data.json files (when a column needs them), and its blobs fetched
// together when the datastore fetches concurrently (S3) rather than one per row.
void prepare(Store& store, const engine::Plan& plan, std::span<const Found> batch, InfoByAttempt& indexes) {
  if (plan.columns_used & kNeedsInfo) {
    // An attempt's artifacts may span two batches: its index is kept, the others are let go.
    InfoByAttempt kept;
    for (const Found& f : batch) {
      auto key = std::pair{f.artifact.task.pathspec(), f.artifact.attempt};
      if (kept.count(key)) continue;
      auto& index = kept[key];
      if (auto it = indexes.find(key); it != indexes.end()) index = std::move(it->second);
      else guarded_fill([&] { index = read_artifact_info(store, f.artifact.task, f.artifact.attempt); });  // NULL columns
    }
    indexes = std::move(kept);
  }
}

// Before the values of the rows the query keeps are computed together: their blobs fetched at
// once when the datastore fetches concurrently (S3), rather than one request per row.
void prefetch(Store& store, const engine::Plan& plan, std::span<const Found* const> kept, const InfoByAttempt& indexes) {
  std::map<std::string, std::vector<std::string>> shas_by_flow;
  for (const Found* f : kept) {
    std::optional<int64_t> size;
    if (auto it = indexes.find({f->artifact.task.pathspec(), f->artifact.attempt}); it != indexes.end())
      if (auto entry = it->second.find(f->artifact.name); entry != it->second.end()) size = entry->second.size;
    const bool over_cap = size && static_cast<uint64_t>(*size) > store.settings().max_value_bytes;
    if (plan.uses(kBlob) || !over_cap) shas_by_flow[f->artifact.task.flow].push_back(f->artifact.sha);
  }
  for (auto& [flow, shas] : shas_by_flow) store.prefetch_blobs(flow, shas, plan.uses(kBlob));
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  Store& store = source.store();
  auto indexes = std::make_shared<InfoByAttempt>();
  const Walk how{.level = Level::kArtifact,
                 .run_records = (plan.columns_used & kRunTags) != 0,
                 .attempts = requested_attempts(plan, kAttempt),
                 .objects_at_once = 32,
                 // A value is one blob read and a (usually cached) decode: less than a thread costs,
                 // so values are decoded on the walk's thread; S3 fetches a batch's blobs at once.
                 .min_per_thread = size_t{1} << 20,
                 .before_rows = [&store, &plan, indexes](std::span<const Found> batch) {
                   prepare(store, plan, batch, *indexes);
                 },
                 .plan = &plan,
                 .before_values = [&store, &plan, indexes](std::span<const Found* const> kept) {
                   prefetch(store, plan, kept, *indexes);
                 }};
  return walk(store, PathFilter(plan, kPath), how,
              [&store, &plan, indexes](const Found& found, std::vector<engine::Row>& out) {
                put_row(store, found, *indexes, plan, out);
              });
}

}  // namespace

const engine::TableSpec kArtifactsTable = {
    .name = "artifacts",
    .doc = "Every artifact of every task, with its decoded value; private (_-prefixed) ones by name only.",
    .columns = kColumns,
    .scan_rows = 2000000,
    .rows = rows,
    .example = "SELECT run_id, json_extract(value, '$.accuracy') AS accuracy FROM artifacts WHERE flow = 'TrainingFlow' AND step = 'evaluate' AND name = 'metrics';",
};

}  // namespace mfsql::tables
