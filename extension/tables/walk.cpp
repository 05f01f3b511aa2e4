#include "tables/walk.hpp"

#include <algorithm>

#include "model/client.hpp"
#include "util/error.hpp"

namespace mfsql::tables {

Session& session_of(engine::Source& source) { return *static_cast<SessionSource&>(source).session; }

Store& store_of(engine::Source& source) {
  auto& s = static_cast<SessionSource&>(source);
  if (!s.store) s.store = s.session->store(s.args);
  return *s.store;
}

namespace {

std::vector<std::string> split_pathspec(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    parts.push_back(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

void intersect(std::optional<std::vector<std::string>>& level, const std::vector<std::string>& allowed) {
  if (!level) {
    level = allowed;
    return;
  }
  std::vector<std::string> kept;
  for (auto& v : *level)
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) kept.push_back(v);
  level = std::move(kept);
}

bool is_private(const std::string& name) { return !name.empty() && name[0] == '_'; }

}  // namespace

PathFilter::PathFilter(const engine::Plan& plan, const PathColumns& c) {
  const int cols[5] = {c.flow, c.run_id, c.step, c.task_id, c.name};
  for (int i = 0; i < 5; ++i)
    if (cols[i] >= 0 && plan.values(cols[i])) levels_[i] = *plan.values(cols[i]);
  if (c.pathspec >= 0 && plan.values(c.pathspec)) {
    pathspecs_ = *plan.values(c.pathspec);
    int depth = 0;
    for (int i = 0; i < 5; ++i)
      if (cols[i] >= 0) depth = i + 1;
    std::vector<std::string> parts_at[5];
    for (auto& p : *pathspecs_) {
      auto parts = split_pathspec(p);
      if (static_cast<int>(parts.size()) != depth) continue;  // cannot name a row of this table
      for (int i = 0; i < depth; ++i)
        if (std::find(parts_at[i].begin(), parts_at[i].end(), parts[i]) == parts_at[i].end())
          parts_at[i].push_back(parts[i]);
    }
    for (int i = 0; i < depth; ++i) intersect(levels_[i], parts_at[i]);
  }
}

bool PathFilter::accepts(const std::string& pathspec) const {
  return !pathspecs_ || std::find(pathspecs_->begin(), pathspecs_->end(), pathspec) != pathspecs_->end();
}

std::vector<FlowRecord> select_flows(Store& store, const PathFilter& f) {
  if (!f.flows()) return store.meta().flows();
  std::vector<FlowRecord> out;
  for (auto& name : *f.flows())
    if (auto r = store.meta().flow(name)) out.push_back(std::move(*r));
  return out;
}

std::vector<std::string> flow_names(Store& store, const PathFilter& f) {
  if (f.flows()) return *f.flows();
  std::vector<std::string> out;
  for (auto& r : store.meta().flows()) out.push_back(r.flow);
  return out;
}

std::vector<RunRecord> select_runs(Store& store, const std::string& flow, const PathFilter& f, bool need_record) {
  std::vector<RunRecord> out;
  if (f.runs() && !need_record) {
    for (auto& id : *f.runs()) {
      RunRecord r;
      r.path = {flow, id, {}, {}};
      r.ts_ms = kUnknownTime;
      out.push_back(std::move(r));
    }
    return out;
  }
  if (!f.runs()) {
    out = store.meta().runs(flow);
  } else {
    for (auto& id : *f.runs())
      if (auto r = store.meta().run({flow, id, {}, {}})) out.push_back(std::move(*r));
  }
  client::sort_newest_first(out);
  return out;
}

std::vector<StepRecord> select_steps(Store& store, const ObjectPath& run, const PathFilter& f, bool need_record) {
  std::vector<StepRecord> out;
  if (f.steps() && !need_record) {
    for (auto& name : *f.steps()) out.push_back(StepRecord{{run.flow, run.run_id, name, {}}, kUnknownTime});
    return out;
  }
  if (!f.steps()) {
    for (auto& s : store.meta().steps(run))
      if (!is_private(s.path.step)) out.push_back(std::move(s));
  } else {
    for (auto& name : *f.steps())
      if (auto s = store.meta().step({run.flow, run.run_id, name, {}})) out.push_back(std::move(*s));
  }
  client::sort_newest_first(out);
  return out;
}

std::vector<TaskRecord> select_tasks(Store& store, const ObjectPath& step, const PathFilter& f) {
  std::vector<TaskRecord> out;
  if (!f.tasks()) {
    out = store.meta().tasks(step);
  } else {
    for (auto& id : *f.tasks())
      if (auto t = store.meta().task({step.flow, step.run_id, step.step, id})) out.push_back(std::move(*t));
  }
  client::sort_newest_first(out);
  return out;
}

engine::Generator<TaskRecord> each_task(Store& store, const PathFilter& f) {
  for (const std::string& flow : flow_names(store, f))
    for (RunRecord& run : select_runs(store, flow, f, false))
      for (StepRecord& step : select_steps(store, run.path, f, false))
        for (TaskRecord& task : select_tasks(store, step.path, f))
          if (f.accepts(task.path.pathspec())) co_yield std::move(task);
}

void put_task_path(engine::Row& row, const ObjectPath& task, const PathColumns& c) {
  row[c.flow] = engine::Value::of(task.flow);
  row[c.run_id] = engine::Value::of(task.run_id);
  row[c.step] = engine::Value::of(task.step);
  row[c.task_id] = engine::Value::of(task.task_id);
  row[c.pathspec] = engine::Value::of(task.pathspec());
}

std::string json_array(const std::vector<std::string>& items) { return nlohmann::json(items).dump(); }

std::vector<std::string> union_sorted(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace mfsql::tables
