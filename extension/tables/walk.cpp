#include "tables/walk.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include "model/client.hpp"
#include "tables/run_feed.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"

namespace mfsql::tables {
namespace {

// Runs are walked in batches growing 1, 2, 4, ... up to this many: the first row of a LIMIT costs
// one run, and a store-wide question still keeps every thread of the budget busy.
constexpr size_t kMaxRunsAtOnce = 32;
// A step narrowed to at most this many tasks has their artifacts read task by task (all at once).
constexpr size_t kCandidatesReadAlone = 64;
// Tasks whose artifacts are listed together, on the thread budget.
constexpr size_t kTasksListedAtOnce = 256;

bool is_private(const std::string& name) { return !name.empty() && name[0] == '_'; }

// ---- each level: looked up by the values the query fixed, or listed -----------------------------

std::vector<std::string> flow_names(Store& store, const PathFilter& f) {
  std::vector<std::string> out;
  if (f.flows()) out = *f.flows();
  else for (auto& r : store.meta().flows()) out.push_back(r.flow);
  std::erase_if(out, [&](const std::string& name) { return !f.allows(0, name); });
  return out;
}

std::vector<FlowRecord> select_flows(Store& store, const PathFilter& f) {
  std::vector<FlowRecord> out;
  if (!f.flows()) out = store.meta().flows();
  else for (auto& name : *f.flows())
    if (auto r = store.meta().flow(name)) out.push_back(std::move(*r));
  std::erase_if(out, [&](const FlowRecord& r) { return !f.allows(0, r.flow); });
  return out;
}

std::vector<StepRecord> select_steps(Store& store, const ObjectPath& run, const PathFilter& f, const Walk& how) {
  std::vector<StepRecord> out;
  const bool need_record = how.step_records || how.level == Level::kStep;
  auto shown = [&](const std::string& name) { return f.allows(2, name) && (f.private_names() || !is_private(name)); };
  if (f.steps() && !need_record) {
    for (auto& name : *f.steps())
      if (shown(name)) out.push_back(StepRecord{{run.flow, run.run_id, name, {}}, kUnknownTime});
    return out;
  }
  if (!f.steps()) {
    for (auto& s : store.meta().steps(run))
      if (shown(s.path.step)) out.push_back(std::move(s));
  } else {
    for (auto& name : *f.steps())
      if (auto s = store.meta().step({run.flow, run.run_id, name, {}})) out.push_back(std::move(*s));
  }
  std::erase_if(out, [&](const StepRecord& s) { return !shown(s.path.step); });
  client::sort_newest_first(out);
  return out;
}

// `records`: whether the tasks' own records are needed. Artifact rows need only their paths, so
// a pathspec lookup asks for the artifact alone (a task that does not exist lists none).
std::vector<TaskRecord> select_tasks(Store& store, const ObjectPath& step, const PathFilter& f, bool records) {
  std::vector<TaskRecord> out;
  if (!f.tasks()) {
    out = store.meta().tasks(step);
  } else {
    for (auto& id : *f.tasks()) {
      if (!records) {
        out.push_back(TaskRecord{{step.flow, step.run_id, step.step, id}, kUnknownTime, {}});
        continue;
      }
      if (auto t = store.meta().task({step.flow, step.run_id, step.step, id})) out.push_back(std::move(*t));
    }
  }
  std::erase_if(out, [&](const TaskRecord& t) { return !f.allows(3, t.path.task_id); });
  client::sort_newest_first(out);
  return out;
}

// The artifacts of one attempt of a task: by name when the query fixed names, else all of them;
// private names only with `private = 1`. Sorted by name, so rows come out stably.
std::vector<ArtifactRecord> select_artifacts(Store& store, const ObjectPath& task, std::optional<int> attempt,
                                             const PathFilter& f) {
  std::vector<ArtifactRecord> out;
  if (const auto* names = f.names()) {
    for (auto& name : *names)
      if (f.private_names() || !is_private(name))
        for (auto& a : store.meta().artifacts(task, attempt, name)) out.push_back(std::move(a));
  } else {
    out = store.meta().artifacts(task, attempt, std::nullopt);
  }
  std::erase_if(out, [&](const ArtifactRecord& a) {
    return !f.allows(4, a.name) || (!f.private_names() && is_private(a.name));
  });
  std::sort(out.begin(), out.end(), [](const ArtifactRecord& a, const ArtifactRecord& b) { return a.name < b.name; });
  return out;
}

// The objects found per run or per task, in order, moved into one list (a Found holds a dozen
// strings: moves are not free, so the list is sized once).
std::vector<Found> flatten(std::vector<std::vector<Found>>& parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  size_t total = 0;
  for (auto& p : parts) total += p.size();
  std::vector<Found> out;
  out.reserve(total);
  for (auto& p : parts)
    for (auto& f : p) out.push_back(std::move(f));
  return out;
}

// The steps or tasks of one run that the table's rows are about (kStep, kTask; kArtifact: the
// tasks whose artifacts are listed next).
void find_in_run(Store& store, const PathFilter& f, const Walk& how, const RunRecord& run, std::vector<Found>& out) {
  const bool lists_steps = !f.steps();
  const bool reads_artifacts = how.reads_artifacts || how.level == Level::kArtifact;
  // Steps whose tasks may be narrowed say so one by one (a run-wide artifact listing would read
  // the tasks narrowed away).
  const bool narrows = how.narrow_tasks && how.level == Level::kTask && !f.tasks();
  std::vector<std::string> names = how.level == Level::kArtifact ? std::vector<std::string>{} : how.artifact_names;
  if (how.level == Level::kArtifact && f.names() && !f.names()->empty()) names = *f.names();
  if (lists_steps)
    store.meta().read_ahead({.scope = run.path, .task_lists = how.level > Level::kStep,
                             .artifacts = reads_artifacts && !narrows, .metadata = how.reads_metadata,
                             .artifact_names = names});
  for (StepRecord& step : select_steps(store, run.path, f, how)) {
    Found found{.flow = {run.path.flow, kUnknownTime}, .run = &run, .step = std::move(step)};
    if (how.level == Level::kStep) {
      if (f.accepts(found.step.path.pathspec())) out.push_back(std::move(found));
      continue;
    }
    std::vector<TaskRecord> tasks = select_tasks(store, found.step.path, f, how.level != Level::kArtifact);
    std::optional<std::vector<TaskRecord>> narrowed;
    if (narrows) narrowed = how.narrow_tasks(store, found.step.path, tasks);
    if (narrowed) {
      tasks = std::move(*narrowed);
      // A few candidates are read each on its own, together; many, as the step's listing.
      MetadataProvider::ReadAhead ahead{.scope = found.step.path, .artifacts = reads_artifacts, .artifact_names = names};
      if (tasks.size() <= kCandidatesReadAlone)
        for (auto& t : tasks) ahead.task_ids.push_back(t.path.task_id);
      if (reads_artifacts && !tasks.empty()) store.meta().read_ahead(ahead);
    } else if ((!lists_steps || narrows) && !f.tasks())
      store.meta().read_ahead({.scope = found.step.path, .artifacts = reads_artifacts,
                               .metadata = how.reads_metadata && !lists_steps, .artifact_names = names});
    for (TaskRecord& task : tasks) {
      if (how.level == Level::kTask && !f.accepts(task.path.pathspec())) continue;
      Found at_task = found;
      at_task.task = std::move(task);
      out.push_back(std::move(at_task));
    }
  }
}

// The artifacts of these tasks that the table's rows are about.
std::vector<Found> artifacts_of(Store& store, const PathFilter& f, const Walk& how, std::span<const Found> tasks,
                                bool threads) {
  std::vector<std::vector<Found>> per_task(tasks.size());
  auto list = [&](size_t i) {
    for (const std::optional<int>& attempt : how.attempts) {
      std::vector<ArtifactRecord> listed;
      try {
        listed = select_artifacts(store, tasks[i].task.path, attempt, f);
      } catch (const CorruptRecord&) {
        continue;  // a damaged attempt-done or registration: this attempt shows no artifacts
      }
      const std::string task_pathspec = f.checks_pathspecs() ? tasks[i].task.path.pathspec() + "/" : "";
      for (ArtifactRecord& a : listed) {
        if (!task_pathspec.empty() && !f.accepts(task_pathspec + a.name)) continue;
        // The artifact's record names its task; the step and task records are not copied.
        per_task[i].push_back(Found{.run = tasks[i].run, .artifact = std::move(a)});
      }
    }
  };
  if (threads) parallel_for(tasks.size(), list, 16);
  else for (size_t i = 0; i < tasks.size(); ++i) list(i);
  return flatten(per_task);
}

}  // namespace


engine::Generator<engine::Row> walk(Store& store, PathFilter filter, Walk how, RowsOf rows_of) {
  const bool threads = store.meta().reads_in_parallel();
  auto for_each = [&](size_t n, size_t min_per_thread, const std::function<void(size_t)>& f) {
    if (threads) parallel_for(n, f, min_per_thread);
    else for (size_t i = 0; i < n; ++i) f(i);
  };
  // Rows the query is sure to keep have their deferred columns computed now, together: what
  // SQLite would otherwise ask for one row at a time.
  // Rows handed out so far, and how many the statement can take at all (its LIMIT and OFFSET):
  // rows past that are never read, so their columns are not computed ahead.
  size_t made = 0;
  const size_t can_take = how.plan && how.plan->rows_wanted() ? static_cast<size_t>(*how.plan->rows_wanted()) : SIZE_MAX;
  auto compute_kept_rows = [&](std::span<const Found> objects, std::vector<std::vector<engine::Row>>& per) {
    if (!how.plan) return;
    size_t position = made;
    std::vector<const Found*> kept_objects;
    std::vector<engine::Row*> kept_rows;
    for (size_t i = 0; i < objects.size(); ++i) {
      bool any = false;
      for (engine::Row& row : per[i])
        if (position++ < can_take && row.deferred_columns() && how.plan->keeps(row)) {
          kept_rows.push_back(&row);
          any = true;
        }
      if (any) kept_objects.push_back(&objects[i]);
    }
    if (kept_rows.empty()) return;
    if (how.before_values) how.before_values(kept_objects);
    for_each(kept_rows.size(), how.min_per_thread, [&](size_t i) { kept_rows[i]->compute_all(); });
  };
  // The rows of some found objects, in their order; a damaged object contributes none.
  auto rows_for = [&](std::span<const Found> objects) {
    if (how.before_rows) how.before_rows(objects);
    std::vector<std::vector<engine::Row>> per(objects.size());
    for_each(objects.size(), how.rows_read ? how.min_per_thread : objects.size() + 1, [&](size_t i) {
      try {
        rows_of(objects[i], per[i]);
      } catch (const CorruptRecord&) {
        per[i].clear();
      }
    });
    compute_kept_rows(objects, per);
    std::vector<engine::Row> out;
    size_t total = 0;
    for (auto& rows : per) total += rows.size();
    out.reserve(total);
    for (auto& rows : per)
      for (auto& row : rows) out.push_back(std::move(row));
    return out;
  };

  if (how.level == Level::kFlow) {
    std::vector<Found> flows;
    for (FlowRecord& flow : select_flows(store, filter))
      if (filter.accepts(flow.flow)) flows.push_back(Found{.flow = std::move(flow)});
    for (size_t at = 0; at < flows.size(); at += how.objects_at_once)
      for (engine::Row& row : rows_for(std::span(flows).subspan(at, std::min(how.objects_at_once, flows.size() - at)))) {
        ++made;
        co_yield std::move(row);
      }
    co_return;
  }

  for (const std::string& flow : flow_names(store, filter)) {
    RunFeed runs(store, flow, filter, how);
    for (size_t first = 0, batch = 1, n = 0; runs.has(first); first += n, batch = std::min(batch * 2, kMaxRunsAtOnce)) {
      // A batch takes the runs at hand: a LIMIT met within this page never reads the next one.
      n = std::min(batch, runs.available() - first);
      std::vector<Found> found;
      if (how.level == Level::kRun) {
        for (size_t i = 0; i < n; ++i) found.push_back(Found{.flow = {flow, kUnknownTime}, .run = &runs[first + i]});
      } else {
        std::vector<std::vector<Found>> per_run(n);
        for_each(n, 1, [&](size_t i) { find_in_run(store, filter, how, runs[first + i], per_run[i]); });
        found = flatten(per_run);
      }
      // Artifacts are listed for many tasks at once (each listing is a few small reads), then
      // their rows made objects_at_once at a time.
      const size_t step = how.level == Level::kArtifact ? kTasksListedAtOnce : how.objects_at_once;
      for (size_t at = 0; at < found.size(); at += step) {
        auto chunk = std::span<const Found>(found).subspan(at, std::min(step, found.size() - at));
        if (how.level != Level::kArtifact) {
          for (engine::Row& row : rows_for(chunk)) {
            ++made;
            co_yield std::move(row);
          }
          continue;
        }
        std::vector<Found> artifacts = artifacts_of(store, filter, how, chunk, threads);
        for (size_t a = 0; a < artifacts.size(); a += how.objects_at_once) {
          auto part = std::span<const Found>(artifacts).subspan(a, std::min(how.objects_at_once, artifacts.size() - a));
          for (engine::Row& row : rows_for(part)) {
            ++made;
            co_yield std::move(row);
          }
        }
      }
    }
  }
}

engine::Generator<engine::Row> walk(TableSource& source, const engine::Plan& plan, const PathColumns& path, Walk how,
                                    PutRows put_rows) {
  Store& store = source.store();
  how.plan = &plan;
  return walk(store, PathFilter(plan, path), std::move(how),
              [&store, &plan, put_rows](const Found& found, std::vector<engine::Row>& out) {
                put_rows(store, found, plan, out);
              });
}

void put_path(engine::Row& row, const ObjectPath& path, const PathColumns& c) {
  row[c.flow] = engine::Value::of(path.flow);
  if (c.run_id >= 0) row[c.run_id] = engine::Value::of(path.run_id);
  if (c.step >= 0) row[c.step] = engine::Value::of(path.step);
  if (c.task_id >= 0) row[c.task_id] = engine::Value::of(path.task_id);
  if (c.pathspec >= 0) row[c.pathspec] = engine::Value::of(path.pathspec());
}

void put_run_tags(engine::Row& row, int first, const RunRecord& run, const engine::Plan& plan) {
  if (run.damaged) return;  // unknown, not empty: NULL
  put_tags(row, first, run.tags, run.system_tags, plan);
}

void put_tags(engine::Row& row, int first, const std::vector<std::string>& tags, const std::vector<std::string>& system_tags,
              const engine::Plan& plan) {
  if (plan.uses(first)) row[first] = engine::Value::json(json_array(tags));
  if (plan.uses(first + 1)) row[first + 1] = engine::Value::json(json_array(system_tags));
  if (!plan.uses(first + 2)) return;
  std::vector<std::string_view> all;  // views: the union is only written out
  all.reserve(tags.size() + system_tags.size());
  std::set_union(tags.begin(), tags.end(), system_tags.begin(), system_tags.end(), std::back_inserter(all));
  row[first + 2] = engine::Value::json(json_array_of_views(all));
}


}  // namespace mfsql::tables
