#include "model/lineage.hpp"

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>

#include "model/client.hpp"
#include "util/parallel.hpp"

namespace mfsql::client {
namespace {

constexpr const char* kPathField = "foreach-execution-path";
constexpr int kMaxOriginDepth = 16;  // resumes of resumes; past this the chain is taken to be broken

// Where the client raises for one task (KeyError, MetaflowNotFound): its lineage is NULL.
struct LineageUnknown {};

FlowGraph parse_graph(const nlohmann::ordered_json& g, const std::string& what) {
  return decoded(what, [&] {
    if (!g.is_object()) throw CorruptRecord(what + " is not a dict.");
    FlowGraph out;
    if (auto it = g.find("start_step"); it != g.end() && it->is_string()) out.start_step = it->get<std::string>();
    if (auto it = g.find("end_step"); it != g.end() && it->is_string()) out.end_step = it->get<std::string>();
    const auto& steps = g.at("steps");
    if (!steps.is_object()) throw CorruptRecord(what + " has no dict of steps.");
    for (const auto& [name, node] : steps.items()) {
      GraphNode n;
      n.type = node.at("type").get<std::string>();
      for (const auto& next : node.at("next")) n.next.push_back(next.get<std::string>());
      out.steps.emplace_back(name, std::move(n));
    }
    return out;
  });
}

FlowGraph graph_of(Store& store, const ArtifactRecord& artifact) {
  const std::string what = "The _graph_info artifact of " + artifact.task.pathspec();
  if (artifact.damaged) throw CorruptRecord(what + " has an unreadable registration.");
  JsonValue value = store.value(artifact);
  if (!value) throw CorruptRecord(what + " is not a pickle mfsql reads, or is too large.");
  return parse_graph(*value, what);
}

std::optional<std::string> newest_value(std::vector<MetadataEntry> entries, const std::string& field) {
  auto dict = metadata_dict(std::move(entries));
  auto it = dict.find(field);
  return it == dict.end() ? std::nullopt : std::optional<std::string>(it->second.text);
}

// metadata_dict's path for a task that recorded none: a clone made by resume (it has
// origin-task-id) shows its origin's newest entries (Task.metadata copies them), recursively.
std::optional<std::string> inherited_path(Store& store, const ObjectPath& task, int depth) {
  auto origin_task = newest_value(store.meta().metadata_field(task, "origin-task-id"), "origin-task-id");
  if (!origin_task || origin_task->empty()) return std::nullopt;  // not a clone
  auto origin_run = newest_value(store.meta().metadata_field(task, "origin-run-id"), "origin-run-id");
  if (!origin_run || depth >= kMaxOriginDepth) throw LineageUnknown{};
  const ObjectPath origin{task.flow, *origin_run, task.step, *origin_task};
  if (!store.meta().task(origin)) throw LineageUnknown{};  // Task(origin) raises MetaflowNotFound
  if (auto own = newest_value(store.meta().metadata_field(origin, kPathField), kPathField)) return own;
  return inherited_path(store, origin, depth + 1);
}

// What the lineage of a run needs to know of each of its tasks.
struct TaskFacts {
  ObjectPath path;
  std::string pathspec;
  std::shared_ptr<const FlowGraph> graph;  // its shown attempt's _graph_info; null: none
  bool path_known = true;                  // false: its metadata_dict cannot be made
  std::string current;                     // metadata_dict's foreach-execution-path ("" when none)
  std::vector<std::string> own_paths;      // the values of its own entries of that field, every attempt
};

std::vector<std::string> split_commas(const std::string& s) {  // as Python's str.split(",")
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1)
    parts.push_back(s.substr(start, comma - start));
  parts.push_back(s.substr(start));
  return parts;
}

std::string first_parts(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out;
}

// filter_tasks_by_metadata(step, "foreach-execution-path", pattern) over facts already read. The
// patterns the client makes are a path ("a:1,b:2"), the same followed by ",.*", or ".*"; paths
// are step names (identifiers) and indices, so the literal part has no regex syntax.
class Matcher {
 public:
  Matcher(const std::map<std::string, std::vector<const TaskFacts*>>& by_step, bool at_start)
      : by_step_(by_step), at_start_(at_start) {}

  void add(const std::string& step, const std::string& pattern, std::vector<std::string>& out) const {
    auto it = by_step_.find(step);
    if (it == by_step_.end()) return;  // a step with no tasks in this run
    std::string literal = pattern;
    const bool any = pattern == ".*";  // the client then reads no metadata: every task of the step
    if (!any && literal.size() >= 2 && literal.compare(literal.size() - 2, 2, ".*") == 0) literal.resize(literal.size() - 2);
    for (const TaskFacts* t : it->second)
      if (any || std::any_of(t->own_paths.begin(), t->own_paths.end(), [&](const std::string& v) {
            return at_start_ ? v.rfind(literal, 0) == 0 : v.find(literal) != std::string::npos;
          }))
        out.push_back(t->pathspec);
  }

 private:
  const std::map<std::string, std::vector<const TaskFacts*>>& by_step_;
  bool at_start_;
};

bool foreach_split(const std::string& type) { return type == "split-foreach" || type == "split-parallel"; }

// Task.parent_task_pathspecs.
std::vector<std::string> parents_of(const TaskFacts& t, const FlowGraph& g, const Matcher& m) {
  const std::vector<std::string> steps = g.previous(t.path.step);
  const GraphNode* node = g.node(t.path.step);
  if (!node) throw LineageUnknown{};  // graph_info["steps"][step_name]: KeyError
  const std::string& path = t.current;
  std::string pattern = ".*";
  if (steps.size() > 1) {
    if (!path.empty()) pattern = path;  // a static join (or a step reached from several): the same path
  } else if (steps.empty()) {
    return {};
  } else if (!path.empty()) {
    const auto parts = split_commas(path);
    if (node->type == "join") {
      pattern = path + ",.*";  // a foreach join: the tasks one level deeper under this path
    } else {
      const bool from_split = foreach_split(g.node(steps[0])->type);
      if (!(from_split && parts.size() == 1)) pattern = first_parts(parts, parts.size() - (from_split ? 1 : 0));
    }
  }
  std::vector<std::string> out;
  for (const auto& s : steps) m.add(s, pattern, out);
  return out;
}

// Task.child_task_pathspecs.
std::vector<std::string> children_of(const TaskFacts& t, const FlowGraph& g, const Matcher& m) {
  const GraphNode* node = g.node(t.path.step);
  if (!node) throw LineageUnknown{};
  const std::vector<std::string>& steps = node->next;
  const std::string& path = t.current;
  std::string pattern = ".*";
  if (steps.size() > 1) {
    if (!path.empty()) pattern = path;  // a static split (or a switch): the same path
  } else if (steps.empty()) {
    return {};
  } else if (!path.empty()) {
    const auto parts = split_commas(path);
    if (foreach_split(node->type)) {
      pattern = path + ",.*";
    } else {
      const GraphNode* child = g.node(steps[0]);
      if (!child) throw LineageUnknown{};
      const bool foreach_join = child->type == "join" && g.previous(steps[0]).size() <= 1;
      if (!(foreach_join && parts.size() == 1)) pattern = first_parts(parts, parts.size() - (foreach_join ? 1 : 0));
    }
  }
  std::vector<std::string> out;
  for (const auto& s : steps) m.add(s, pattern, out);
  return out;
}

template <typename F>
std::optional<std::vector<std::string>> sorted_or_unknown(F&& compute) {
  try {
    auto v = compute();
    std::sort(v.begin(), v.end());
    return v;
  } catch (const LineageUnknown&) {
    return std::nullopt;
  }
}

}  // namespace

const GraphNode* FlowGraph::node(const std::string& step) const {
  for (const auto& [name, node] : steps)
    if (name == step) return &node;
  return nullptr;
}

std::vector<std::string> FlowGraph::previous(const std::string& step) const {
  std::vector<std::string> out;
  for (const auto& [name, node] : steps)
    if (std::find(node.next.begin(), node.next.end(), step) != node.next.end()) out.push_back(name);
  return out;
}

std::shared_ptr<const FlowGraph> task_graph(Store& store, const ObjectPath& task) {
  auto arts = store.meta().artifacts_named(task, std::nullopt, {"_graph_info"});
  if (arts.empty()) return nullptr;
  return std::make_shared<const FlowGraph>(graph_of(store, arts.front()));
}

StepDag step_dag(Store& store, const ObjectPath& step, const std::vector<TaskRecord>& tasks) {
  StepDag out;
  if (tasks.empty()) return out;  // Step.task is None
  auto graph = task_graph(store, tasks.front().path);
  if (!graph) return out;
  const GraphNode* node = graph->node(step.step);
  if (node) out.type = node->type;
  // Step.parent_steps / child_steps yield Step objects, and Step(pathspec) raises for a step the
  // run does not have (a switch's branch not taken, a step after a failure).
  auto existing = [&](std::vector<std::string> names) -> std::optional<std::vector<std::string>> {
    for (const auto& name : names)
      if (!store.meta().step({step.flow, step.run_id, name, {}})) return std::nullopt;
    std::sort(names.begin(), names.end());
    return names;
  };
  out.parents = step.step == graph->start_step ? std::vector<std::string>{} : existing(graph->previous(step.step));
  if (step.step == graph->end_step) out.children = std::vector<std::string>{};
  else if (node) out.children = existing(node->next);
  return out;
}

std::optional<std::string> control_task(Store& store, const std::vector<TaskRecord>& tasks) {
  for (const auto& t : tasks)
    for (const auto& e : store.meta().metadata_field(t.path, "internal_task_type"))
      if (e.value == "control_task") return t.path.pathspec();
  return std::nullopt;
}

const TaskLineage* RunLineage::of(const ObjectPath& task) const {
  auto it = tasks.find(task.pathspec());
  return it == tasks.end() ? nullptr : &it->second;
}

RunLineage compute_run_lineage(Store& store, const ObjectPath& run) {
  MetadataProvider& meta = store.meta();
  meta.read_ahead({.scope = run, .task_lists = true, .artifacts = true, .metadata = true});
  const bool threads = meta.reads_in_parallel();
  auto for_each = [&](size_t n, const std::function<void(size_t)>& f) {
    if (threads) parallel_for(n, f, 4);
    else for (size_t i = 0; i < n; ++i) f(i);
  };

  const std::vector<StepRecord> steps = meta.steps(run);
  std::vector<std::vector<TaskRecord>> step_tasks(steps.size());
  for_each(steps.size(), [&](size_t i) { step_tasks[i] = meta.tasks(steps[i].path); });
  std::vector<TaskFacts> facts;
  for (auto& tasks : step_tasks)
    for (auto& t : tasks) facts.push_back(TaskFacts{.path = t.path, .pathspec = t.path.pathspec()});

  std::mutex graphs_mu;
  std::map<std::string, std::shared_ptr<const FlowGraph>> graphs;  // by sha: decoded once
  size_t decoded_graphs = 0;
  for_each(facts.size(), [&](size_t i) {
    TaskFacts& t = facts[i];
    try {
      auto own = meta.metadata_field(t.path, kPathField);
      for (const auto& e : own) t.own_paths.push_back(e.value);
      auto path = own.empty() ? inherited_path(store, t.path, 0) : newest_value(std::move(own), kPathField);
      t.current = path.value_or("");
    } catch (const LineageUnknown&) {
      t.path_known = false;
    } catch (const CorruptRecord&) {
      t.path_known = false;
    }
    try {
      auto arts = meta.artifacts_named(t.path, std::nullopt, {"_graph_info"});
      if (arts.empty()) return;
      // Decoded under the lock: tasks on other threads that share this sha (a run has one graph)
      // wait for it rather than read the same blob again.
      std::lock_guard lock(graphs_mu);
      auto it = graphs.find(arts.front().sha);
      if (it == graphs.end()) {
        it = graphs.emplace(arts.front().sha, std::make_shared<const FlowGraph>(graph_of(store, arts.front()))).first;
        ++decoded_graphs;
      }
      t.graph = it->second;
    } catch (const CorruptRecord&) {
      // an undecodable _graph_info: this task's lineage is unknown
    }
  });

  std::map<std::string, std::vector<const TaskFacts*>> by_step;
  std::map<std::string, const ObjectPath*> path_of;
  for (const auto& t : facts) {
    by_step[t.path.step].push_back(&t);
    path_of[t.pathspec] = &t.path;
  }
  const Matcher matcher(by_step, meta.metadata_patterns_match_at_start());
  RunLineage out;
  out.task_count = facts.size();
  out.path_reads = facts.size();
  out.graphs_decoded = decoded_graphs;
  std::set<std::pair<std::string, std::string>> edges;
  for (const auto& t : facts) {
    TaskLineage& lineage = out.tasks[t.pathspec];
    if (!t.graph || !t.path_known) continue;
    lineage.parents = sorted_or_unknown([&] { return parents_of(t, *t.graph, matcher); });
    lineage.children = sorted_or_unknown([&] { return children_of(t, *t.graph, matcher); });
    if (lineage.parents)
      for (const auto& p : *lineage.parents) edges.emplace(p, t.pathspec);
    if (lineage.children)
      for (const auto& c : *lineage.children) edges.emplace(t.pathspec, c);
  }
  for (const auto& [parent, child] : edges) out.edges.push_back({*path_of.at(parent), *path_of.at(child)});
  return out;
}

std::shared_ptr<const RunLineage> run_lineage(Store& store, const ObjectPath& run) {
  std::function<RunLineage()> make = [&] { return compute_run_lineage(store, run); };
  if (StatementMemo* memo = store.statement_memo())
    return memo->computed<RunLineage>("lineage " + store.meta().describe() + "\n" + run.pathspec(), make);
  return std::make_shared<const RunLineage>(make());
}

}  // namespace mfsql::client
