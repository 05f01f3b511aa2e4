// metadata: one row per metadata entry a task recorded, every attempt, oldest first. These are the
// task's own entries as stored; the client's merged view (newest value per name, with a resumed
// task's origin entries) is tasks.metadata.
#include <algorithm>

#include "tables/specs.hpp"
#include "tables/walk.hpp"
#include "util/time.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kTaskId, kPathspec, kAttempt, kFieldName, kValue, kType, kCreatedAt, kUser, kTags,
           kPrivate, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"pathspec", Type::Text, kKey | kPattern, 50000, "The task's Flow/Run/Step/Task"},
    {"attempt", Type::Integer, kPlain, 0, "From the entry's attempt_id:N tag; NULL when it has none"},
    {"field_name", Type::Text, kKey, 20, "e.g. attempt, attempt_ok, ds-root, foreach-stack"},
    {"value", Type::Text, kPlain, 0, "As recorded (a non-text value as its JSON text)"},
    {"type", Type::Text, kPlain, 0, "The entry's type"},
    {"created_at", Type::Text, kPlain, 0, "When it was recorded, UTC"},
    {"user", Type::Text, kPlain, 0, "Who recorded it"},
    {"tags", Type::Json, kPlain, 0, "The entry's tags, e.g. [\"attempt_id:0\"]"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, _task_ok, ...), as in FROM metadata(1); 0 by default"},
};

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId, .pathspec = kPathspec,
                            .private_names = kPrivate};

void put_rows(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const TaskRecord& task = found.task;
  // The local provider reads a task's entries in one listing, so field names are filtered here.
  const std::vector<std::string>* fields = plan.values(kFieldName);
  auto entries = store.meta().metadata(task.path);
  std::stable_sort(entries.begin(), entries.end(), [](const MetadataEntry& a, const MetadataEntry& b) {
    return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.id < b.id;
  });
  for (const MetadataEntry& e : entries) {
    if (fields && std::find(fields->begin(), fields->end(), e.field_name) == fields->end()) continue;
    engine::Row& row = out.emplace_back(kCount);
    put_path(row, task.path, kPath);
    row[kPrivate] = private_value(plan, kPrivate);
    auto attempt = e.attempt_tag();
    row[kAttempt] = attempt ? Value::of(int64_t{*attempt}) : Value::null();
    row[kFieldName] = Value::of(e.field_name);
    row[kValue] = Value::of(e.value);
    row[kType] = Value::of(e.type);
    row[kCreatedAt] = Value::maybe(iso_utc_ms_or_null(e.ts_ms));
    row[kUser] = e.user_name.empty() ? Value::null() : Value::of(e.user_name);
    row[kTags] = Value::json(json_array(e.tags));
  }
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  return walk(source, plan, kPath, {.level = Level::kTask, .reads_metadata = true, .rows_read = true}, put_rows);
}

}  // namespace

const engine::TableSpec kMetadataTable = {
    .name = "metadata",
    .doc = "Every metadata entry of every task, all attempts, oldest first.",
    .columns = kColumns,
    .scan_rows = 2000000,
    .rows = rows,
    .example = "SELECT run_id, task_id, attempt, value FROM metadata WHERE flow = 'TrainingFlow' AND step = 'train' AND field_name = 'attempt_ok';",
};

}  // namespace mfsql::tables
