// logs: one row per log line of a task's latest started attempt (or of `attempt = N`), stdout and
// stderr, in the merged order Metaflow's client reads them, so a run can be grepped in SQL:
//   SELECT step, task_id, line FROM logs WHERE flow = ? AND run_id = ? AND line LIKE '%Error%'
#include <algorithm>

#include "model/task_history.hpp"
#include "tables/attempt_filter.hpp"
#include "tables/specs.hpp"
#include "tables/walk.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

enum Col { kFlow, kRunId, kStep, kTaskId, kPathspec, kPrivate, kAttempt, kStream, kLineNo, kTs, kSource, kLine, kCount };

const engine::Column kColumns[] = {
    {"flow", Type::Text, kKey, 10, "Flow name"},
    {"run_id", Type::Text, kKey, 100, "Run id"},
    {"step", Type::Text, kKey, 5, "Step name"},
    {"task_id", Type::Text, kKey, 10, "Task id (unique within its run)"},
    {"pathspec", Type::Text, kKey | kPattern, 50000, "The task's Flow/Run/Step/Task"},
    {"private", Type::Integer, kHidden | kArgument, 0,
     "Argument: 1 includes the names Metaflow keeps private (_parameters, _task_ok, ...), as in FROM logs(1); 0 by default"},
    {"attempt", Type::Integer, kHidden | kArgument, 0,
     "Argument: the attempt whose log is read (= N or IN (...)); by default the latest started one"},
    {"stream", Type::Text, kKey, 2, "stdout or stderr"},
    {"line_no", Type::Integer, kPlain, 0, "1-based position in the merged log of this stream"},
    {"ts", Type::Text, kPlain, 0, "When the line was written (UTC, from the mflog header, cut to milliseconds); NULL for unstructured lines"},
    {"source", Type::Text, kPlain, 0, "runtime or task: which log file the line came from"},
    {"line", Type::Text, kPlain, 0, "The text, without its newline (an unstructured line keeps its raw bytes)"},
};

const char* const kStreams[] = {"stdout", "stderr"};

std::vector<std::string> requested_streams(const engine::Plan& plan) {
  std::vector<std::string> out;
  for (const char* s : kStreams)
    if (!plan.values(kStream) || std::find(plan.values(kStream)->begin(), plan.values(kStream)->end(), s) !=
                                     plan.values(kStream)->end())
      out.push_back(s);
  return out;
}

constexpr PathColumns kPath{.flow = kFlow, .run_id = kRunId, .step = kStep, .task_id = kTaskId, .pathspec = kPathspec,
                            .private_names = kPrivate};

// The rows of one stream of one attempt: legacy (pre-mflog) logs are plain text, one row per
// line and no timestamps; mflog lines keep their header's time and source.
void put_lines(const TaskRecord& task, const std::string& stream, const client::TaskLog& log, const Value& private_arg,
               std::vector<engine::Row>& out) {
  int64_t n = 0;
  auto next_row = [&]() -> engine::Row& {
    engine::Row& row = out.emplace_back(kCount);
    put_path(row, task.path, kPath);
    row[kPrivate] = private_arg;
    row[kAttempt] = Value::of(int64_t{log.attempt});
    row[kStream] = Value::of(stream);
    row[kLineNo] = Value::of(++n);
    return row;
  };
  if (log.kind == client::TaskLog::Kind::Legacy) {
    if (!log.legacy_text) return;
    const std::string text = mflog::valid_utf8(*log.legacy_text);
    for (size_t start = 0; start < text.size();) {
      size_t nl = text.find('\n', start);
      size_t end = nl == std::string::npos ? text.size() : nl;
      next_row()[kLine] = Value::of(text.substr(start, end - start));
      start = end + 1;
    }
    return;
  }
  for (const mflog::Line& line : log.lines) {
    engine::Row& row = next_row();
    row[kTs] = line.parsed ? Value::of(line.iso) : Value::null();
    row[kSource] = Value::of(std::string(client::kLogSources[line.blob]));
    std::string text = line.message;
    if (!line.parsed && !text.empty() && text.back() == '\n') text.pop_back();
    row[kLine] = Value::of(mflog::valid_utf8(text));
  }
}

void put_rows(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out) {
  const client::MetadataDict dict = client::task_metadata_dict(store, found.task.path);
  for (const std::optional<int>& attempt : requested_attempts(plan, kAttempt))
    for (const std::string& stream : requested_streams(plan))
      put_lines(found.task, stream, client::load_task_log(store, found.task.path, dict, attempt, stream),
                private_value(plan, kPrivate), out);
}

engine::Generator<engine::Row> rows(TableSource& source, const engine::Plan& plan) {
  if (requested_attempts(plan, kAttempt).empty() || requested_streams(plan).empty()) return {};
  // A few tasks at a time: a task's log can be large, and its rows are held until yielded.
  return walk(source, plan, kPath, {.level = Level::kTask, .reads_metadata = true, .objects_at_once = 8, .min_per_thread = 2, .rows_read = true},
              put_rows);
}

}  // namespace

const engine::TableSpec kLogsTable = {
    .name = "logs",
    .doc = "Every stdout/stderr line of every task's latest started attempt, in the client's merged order.",
    .columns = kColumns,
    .scan_rows = 5000000,
    .rows = rows,
    .example = "SELECT run_id, step, task_id, stream, line FROM logs WHERE flow = 'TrainingFlow' AND line LIKE '%Error%';",
};

}  // namespace mfsql::tables
