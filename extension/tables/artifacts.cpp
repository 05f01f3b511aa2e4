// artifacts: one row per artifact of a task's shown attempt (or of `attempt = N`), with its
// decoded value and its bytes. What each column costs:
//   name, sha, encoding, created_at, attempt  the registration files in _meta (no blob, no data.json)
//   size, python_type, serializer             + <attempt>.data.json, read once per task attempt
//   value, blob                               + the blob itself, only when the query uses them
#include <algorithm>
#include <map>
#include <new>

#include "datastore/cas.hpp"
#include "decode/pickle.hpp"
#include "tables/attempt_filter.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kTaskId, kName, kPathspec, kAttempt, kSha, kCreatedAt, kEncoding, kSerializer,
           kPythonType, kSize, kValue, kBlob, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"name", Type::Text, kKey, 30, "Artifact name; names starting with _ appear only when asked for by name"},
    {"pathspec", Type::Text, kKey, 1000000, "Flow/Run/Step/Task/name"},
    {"attempt", Type::Integer, kKey, 1, "The attempt that wrote it: the one the client shows, unless fixed by attempt = N"},
    {"sha", Type::Text, kPlain, 0, "SHA-1 of the serialized bytes (the content-addressed key)"},
    {"created_at", Type::Text, kPlain, 0, "When the artifact was registered (the attempt's end)"},
    {"encoding", Type::Text, kPlain, 0, "Serializer encoding, e.g. pickle-v4 or gzip+pickle-v4"},
    {"serializer", Type::Text, kPlain, 0, "The package whose serializer wrote it (data.json serializer_info.source)"},
    {"python_type", Type::Text, kPlain, 0, "module.Class of the value, e.g. builtins.int"},
    {"size", Type::Integer, kPlain, 0, "Bytes of the serialized value, uncompressed"},
    {"value", Type::Json, kPlain, 0, "The value as JSON (NULL past the per-connection cap or for non-pickle encodings)"},
    {"blob", Type::Blob, kPlain, 0, "The serialized bytes, uncompressed (pickle.loads them in Python)"},
};

constexpr uint64_t bit(int c) { return uint64_t{1} << c; }
constexpr uint64_t kNeedsDataIndex = bit(kSize) | bit(kPythonType) | bit(kSerializer);
// SQLite's default SQLITE_MAX_LENGTH: a longer blob could not be returned anyway.
constexpr size_t kMaxBlobBytes = 1000000000;

bool is_private(const std::string& name) { return !name.empty() && name[0] == '_'; }

// What <attempt>.data.json says of one artifact.
struct IndexEntry {
  std::optional<int64_t> size;
  std::optional<std::string> type_repr, encoding, serializer;
};
using DataIndex = std::map<std::string, IndexEntry>;

DataIndex read_data_index(Store& store, const ObjectPath& task, int attempt) {
  DataIndex out;
  auto stored = store.data().get(task_file_key(task, attempt, "data.json"), false);
  if (!stored) return out;
  auto doc = nlohmann::json::parse(stored->bytes, nullptr, false);
  if (!doc.is_object() || !doc.contains("info") || !doc["info"].is_object())
    throw CorruptRecord("The file " + task_file_key(task, attempt, "data.json") + " is not an artifact index.");
  for (auto& [name, info] : doc["info"].items()) {
    if (!info.is_object()) continue;
    IndexEntry e;
    if (info.contains("size") && info["size"].is_number_integer()) e.size = info["size"].get<int64_t>();
    if (info.contains("type") && info["type"].is_string()) e.type_repr = info["type"].get<std::string>();
    if (info.contains("encoding") && info["encoding"].is_string()) e.encoding = info["encoding"].get<std::string>();
    if (info.contains("serializer_info") && info["serializer_info"].is_object()) {
      const auto& si = info["serializer_info"];
      if (si.contains("source") && si["source"].is_string()) e.serializer = si["source"].get<std::string>();
    }
    out.emplace(name, std::move(e));
  }
  return out;
}

// The artifacts the query asks for in one attempt of a task: by name when it fixed names
// (private ones included), else every public one. Sorted by name, so rows come out stably.
std::vector<ArtifactRecord> select_artifacts(Store& store, const ObjectPath& task, std::optional<int> attempt,
                                             const PathFilter& filter) {
  std::vector<ArtifactRecord> out;
  if (const auto* names = filter.names()) {
    for (auto& name : *names)
      for (auto& a : store.meta().artifacts(task, attempt, name)) out.push_back(std::move(a));
  } else {
    for (auto& a : store.meta().artifacts(task, attempt, std::nullopt))
      if (!is_private(a.name)) out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const ArtifactRecord& a, const ArtifactRecord& b) { return a.name < b.name; });
  return out;
}

// The value column: NULL for encodings mfsql cannot decode, values past the cap, and blobs that
// fail to decode. A decoder failure of any kind stays in its row; only a store that cannot be read
// at all (UserError) or memory exhaustion fails the query.
Value value_of(Store& store, const ArtifactRecord& a, const std::string& encoding,
               const std::optional<int64_t>& known_size, const std::string* serialized) {
  if (!Store::is_pickle_encoding(encoding)) return Value::null();
  if (known_size && static_cast<uint64_t>(*known_size) > store.settings().max_value_bytes) return Value::null();
  try {
    ArtifactRecord as_encoded = a;
    as_encoded.content_type = encoding;
    JsonValue v = store.value(as_encoded, serialized);
    return v ? Value::json(python_json_dumps(*v)) : Value::null();
  } catch (const UserError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    return Value::null();
  }
}

void fill(Store& store, const ArtifactRecord& a, const IndexEntry* index, const engine::Plan& plan, engine::Row& row) {
  row[kAttempt] = Value::of(int64_t{a.attempt});
  row[kSha] = Value::of(a.sha);
  row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(a.ts_ms));
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
  std::optional<std::string> bytes;
  if (plan.uses(kBlob)) {
    row[kBlob] = guarded([&] {
      bytes = store.blob(a.task.flow, a.sha, kMaxBlobBytes);
      return Value::blob(*bytes);
    });
    if (bytes && !size) size = static_cast<int64_t>(bytes->size());
  }
  if (plan.uses(kValue)) row[kValue] = value_of(store, a, encoding, size, bytes ? &*bytes : nullptr);
  row[kSize] = Value::maybe(size);
}

// One row to produce, found by the walk; its blob-dependent columns are filled a batch at a time.
struct Pending {
  ArtifactRecord artifact;
  std::optional<IndexEntry> index;
  std::string pathspec;
};

// Rows are produced a step's tasks at a time, up to kBatch rows, so that a network datastore
// fetches the blobs of the batch together (Store::prefetch_blobs) rather than one per row.
constexpr size_t kBatch = 32;

class Batch {
 public:
  Batch(Store& store, const engine::Plan& plan) : store_(store), plan_(plan) {}
  bool full() const { return pending_.size() >= kBatch; }
  void add(Pending p) { pending_.push_back(std::move(p)); }

  std::vector<engine::Row> take() {
    if (plan_.uses(kValue) || plan_.uses(kBlob)) prefetch();
    std::vector<engine::Row> out;
    out.reserve(pending_.size());
    for (Pending& p : pending_) {
      const ArtifactRecord& a = p.artifact;
      engine::Row row(kCount);
      row[kFlow] = Value::of(a.task.flow);
      row[kRunId] = Value::of(a.task.run_id);
      row[kStep] = Value::of(a.task.step);
      row[kTaskId] = Value::of(a.task.task_id);
      row[kName] = Value::of(a.name);
      row[kPathspec] = Value::of(p.pathspec);
      fill(store_, a, p.index ? &*p.index : nullptr, plan_, row);
      out.push_back(std::move(row));
    }
    pending_.clear();
    return out;
  }

 private:
  void prefetch() {
    std::map<std::string, std::vector<std::string>> shas_by_flow;
    for (const Pending& p : pending_) {
      const auto& size = p.index ? p.index->size : std::nullopt;
      bool over_cap = size && static_cast<uint64_t>(*size) > store_.settings().max_value_bytes;
      if (plan_.uses(kBlob) || !over_cap) shas_by_flow[p.artifact.task.flow].push_back(p.artifact.sha);
    }
    for (auto& [flow, shas] : shas_by_flow) store_.prefetch_blobs(flow, shas, plan_.uses(kBlob));
  }

  Store& store_;
  const engine::Plan& plan_;
  std::vector<Pending> pending_;
};

engine::Generator<engine::Row> rows(engine::Source& source, const engine::Plan& plan) {
  Store& store = store_of(source);
  PathFilter filter(plan, {.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId,
                           .pathspec = kPathspec, .name = kName});
  const bool needs_index = (plan.columns_used & kNeedsDataIndex) != 0;
  const auto attempts = requested_attempts(plan, kAttempt);
  Batch batch(store, plan);
  for (const std::string& flow : flow_names(store, filter)) {
    for (RunRecord& run : select_runs(store, flow, filter, false)) {
      for (StepRecord& step : select_steps(store, run.path, filter, false)) {
        for (TaskRecord& task : select_tasks(store, step.path, filter)) {
          for (const std::optional<int>& attempt : attempts) {
            std::vector<ArtifactRecord> artifacts;
            try {
              artifacts = select_artifacts(store, task.path, attempt, filter);
            } catch (const CorruptRecord&) {
              continue;  // a damaged attempt-done or registration: this task shows no artifacts
            }
            // data.json is per attempt; every artifact of one listing shares it, so it is read once.
            std::map<int, DataIndex> indexes;
            for (ArtifactRecord& a : artifacts) {
              std::string pathspec = task.path.pathspec() + "/" + a.name;
              if (!filter.accepts(pathspec)) continue;
              std::optional<IndexEntry> index;
              if (needs_index) {
                auto it = indexes.find(a.attempt);
                if (it == indexes.end()) {
                  DataIndex read;
                  try {
                    read = read_data_index(store, task.path, a.attempt);
                  } catch (const CorruptRecord&) {
                    // Its columns stay NULL; the artifacts are still listed.
                  }
                  it = indexes.emplace(a.attempt, std::move(read)).first;
                }
                if (auto entry = it->second.find(a.name); entry != it->second.end()) index = entry->second;
              }
              batch.add({std::move(a), std::move(index), std::move(pathspec)});
              if (batch.full())
                for (engine::Row& row : batch.take()) co_yield std::move(row);
            }
          }
        }
        for (engine::Row& row : batch.take()) co_yield std::move(row);
      }
    }
  }
}

}  // namespace

const engine::TableSpec kArtifactsTable = {
    .name = "artifacts",
    .doc = "Every artifact of every task, with its decoded value; private (_-prefixed) ones by name only.",
    .columns = kColumns,
    .scan_rows = 2000000,
    .rows = rows,
    .example = "SELECT step, task_id, value FROM artifacts WHERE flow = 'TrainFlow' AND run_id = '123' AND name = 'accuracy';",
};

}  // namespace mfsql::tables
