#pragma once
// The one walk over Flow -> Run -> Step -> Task -> Artifact that every store table's rows come
// from. A table says which level its rows are about and what they read (a Walk); the walk turns
// the plan's path constraints into direct lookups (each level is looked up by the values the query
// fixed with `=`, `IN` or a `pathspec`, or listed when nothing fixed it), and owns:
//   - the order: flow by flow, runs newest first, then steps and tasks newest first, as the client
//     iterates; private names (`_parameters`, `_task_ok`) only with the `private = 1` argument,
//     in listings and lookups alike, so the answer never depends on the plan;
//   - batching: runs a batch at a time, batches growing from one run to kMaxRunsAtOnce, so a LIMIT
//     or a point lookup reads no further than it must;
//   - threading: the objects of a batch are found, and their rows made, on the thread budget
//     (util/parallel.hpp) when the provider reads in parallel (the local store);
//   - telling the provider what is about to be read under each run or step (read_ahead), so the
//     service answers a run's artifacts or metadata in one request;
//   - the damaged-record rule for whole objects: a record that cannot be decoded (CorruptRecord)
//     hides only the object it describes; `guarded` applies it to the columns one record feeds.
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/generator.hpp"
#include "engine/table.hpp"
#include "model/store.hpp"
#include "session/session.hpp"
#include "util/json_text.hpp"
#include "util/error.hpp"

namespace mfsql::tables {

// The column numbers of a table's path columns (-1 where the table has none). The deepest one
// given is the table's level; `pathspec` names an object of that level.
struct PathColumns {
  int flow = -1, run_id = -1, step = -1, task_id = -1, pathspec = -1, name = -1;
  // The hidden `private` argument: 1 includes private names (`_parameters`, `_task_ok`), which
  // are otherwise left out of every listing and lookup, as the client leaves them out.
  int private_names = -1;
};

// Per level, the values the query allows (nullopt: any). Pathspec constraints are split into
// their parts and intersected with the per-column ones; `accepts` re-checks whole pathspecs of
// the table's own level. A LIKE or GLOB pattern on the pathspec narrows by its leading literal
// segments: a GLOB segment (or a LIKE one without ASCII letters) is a lookup; a LIKE segment with
// letters matches names case-insensitively, so its level is listed and filtered (`allows`).
class PathFilter {
 public:
  PathFilter(const engine::Plan& plan, const PathColumns& columns);

  const std::vector<std::string>* flows() const { return level(0); }
  const std::vector<std::string>* runs() const { return level(1); }
  const std::vector<std::string>* steps() const { return level(2); }
  const std::vector<std::string>* tasks() const { return level(3); }
  const std::vector<std::string>* names() const { return level(4); }
  bool accepts(const std::string& pathspec) const;
  // Whether accepts() checks anything (a pathspec = or IN was given).
  bool checks_pathspecs() const { return pathspecs_.has_value(); }
  // Whether a name at `level` (0 flow ... 4 artifact name) passes the case-insensitive literals.
  bool allows(int level, const std::string& name) const;
  // Whether private names are shown (the `private` argument is 1; the constructor throws
  // UserError for a value other than 0 or 1).
  bool private_names() const { return private_names_; }

 private:
  void narrow_by_pattern(const engine::Plan::Pattern& pattern, int depth);
  const std::vector<std::string>* level(int i) const { return levels_[i] ? &*levels_[i] : nullptr; }
  std::optional<std::vector<std::string>> levels_[5];
  std::optional<std::vector<std::string>> pathspecs_;
  std::vector<std::string> folded_[5];  // ASCII-lowercased names a level's name must equal, folded
  bool private_names_ = false;
};

// The value of the `private` argument in a row: what the query gave, 0 by default.
engine::Value private_value(const engine::Plan& plan, int column);

enum class Level { kFlow, kRun, kStep, kTask, kArtifact };

// One object the walk found, with what it knows of its ancestors. Below kFlow, `flow` has the
// name only; `run` is the run's record when Walk::run_records, else its path alone. At kArtifact
// only `run` and `artifact` are set (the artifact's record names its task).
struct Found {
  FlowRecord flow;
  const RunRecord* run = nullptr;  // valid while the rows of its batch are made
  StepRecord step;
  TaskRecord task;
  ArtifactRecord artifact;
};

// What a table asks of the walk.
struct Walk {
  Level level = Level::kTask;
  // The rows read the run's record (its tags) or the step's (created_at). Without them, values
  // the query fixed are not looked up: a missing run or step simply has nothing below it.
  bool run_records = false;
  bool step_records = false;
  // The rows read the artifacts or the metadata of many tasks (told to the provider ahead).
  bool reads_artifacts = false;
  bool reads_metadata = false;
  // The tasks of one step the rows may come from, when fewer than all of them (only narrows:
  // SQLite re-checks every row); nullopt keeps them all. The artifacts of a narrowed step are read
  // task by task, not as the step's (or run's) whole listing.
  std::function<std::optional<std::vector<TaskRecord>>(Store&, const ObjectPath& step, const std::vector<TaskRecord>&)>
      narrow_tasks;
  // With reads_artifacts: the only artifact names the rows read (empty: any). At kArtifact the
  // names the query fixed are used.
  std::vector<std::string> artifact_names;
  // kArtifact: the attempts whose artifacts are listed; nullopt is the one the client shows.
  std::vector<std::optional<int>> attempts = {std::nullopt};
  // When the runs of a flow are listed (no run fixed): the runs the statement asks about and how
  // many it may stop after (runs_query), sent to the provider, whose pages are read only as the
  // statement goes on. Only narrows: SQLite re-checks every row.
  std::optional<RunQuery> run_query;
  // Rows are made this many objects at a time. Deferred columns of rows sure to be kept are
  // computed on several threads from min_per_thread rows each; making the rows themselves is
  // cheap (no reads: they come from the records found) unless the table says its rows read
  // (rows_read: logs and metadata read a task's files to make its rows), then that is threaded.
  size_t objects_at_once = 64;
  size_t min_per_thread = 4;
  bool rows_read = false;
  // Called with each batch of objects before their rows are made; may be empty.
  std::function<void(std::span<const Found>)> before_rows;
  // The statement's plan: rows it is sure to keep (Plan::keeps) have their deferred columns
  // computed ahead, a batch at a time on the thread budget, after `before_values` is called with
  // their objects (e.g. to fetch their blobs together). Without a plan, deferred columns wait for
  // SQLite to ask.
  const engine::Plan* plan = nullptr;
  std::function<void(std::span<const Found* const>)> before_values;
};

// Appends the rows of one found object to `out`. A CorruptRecord thrown out of it drops that
// object's rows; any other error fails the statement.
using RowsOf = std::function<void(const Found&, std::vector<engine::Row>& out)>;

// (Arguments by value: the walk is a coroutine that outlives the call.)
engine::Generator<engine::Row> walk(Store& store, PathFilter filter, Walk how, RowsOf rows_of);

// The usual shape of a table: its rows come from one function of the store, the object and the
// plan, and its path columns are `path`.
using PutRows = void (*)(Store& store, const Found& found, const engine::Plan& plan, std::vector<engine::Row>& out);
engine::Generator<engine::Row> walk(TableSource& source, const engine::Plan& plan, const PathColumns& path, Walk how,
                                    PutRows put_rows);

// Evaluates the columns one record feeds; a damaged record makes them NULL instead of failing the
// query. The rule's other half (a damaged object hides only itself) is in walk().
template <typename F>
engine::Value guarded(F&& compute) {
  try {
    return compute();
  } catch (const CorruptRecord&) {
    return engine::Value::null();
  }
}

// The same for a function that fills several columns itself (they stay NULL when it throws
// before filling them).
template <typename F>
void guarded_fill(F&& fill) {
  try {
    fill();
  } catch (const CorruptRecord&) {
  }
}

// A run query from a plan's terms on a table's created_at and user columns (-1: none) and its
// LIMIT (as `wanted` runs when each run is one row: `rows_are_runs`). A created_at comparison with
// text becomes the range of times whose text passes it: created_at's form sorts as its time does
// (util/time.hpp), so `created_at >= '2026-11'` is `ts >= 2026-11-01 00:00:00.000` exactly,
// whatever the text; the bound is found by bisecting the times, not by parsing the text.
RunQuery runs_query(const engine::Plan& plan, int created_at_column, int user_column, bool rows_are_runs);

// Record -> column helpers shared by the tables.
void put_path(engine::Row& row, const ObjectPath& path, const PathColumns& columns);
// The user_tags, system_tags and tags columns (in that order, from `first`) of a run's row or of
// a row about something in the run: those of them the statement reads (a JSON text per row and
// column costs more than the rest of a remembered run's row).
void put_run_tags(engine::Row& row, int first, const RunRecord& run, const engine::Plan& plan);
// The same three columns from any object's tags (a flow's).
void put_tags(engine::Row& row, int first, const std::vector<std::string>& tags, const std::vector<std::string>& system_tags,
              const engine::Plan& plan);

}  // namespace mfsql::tables
