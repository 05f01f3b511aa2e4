#include "providers/local/local_metadata.hpp"

#include <algorithm>

#include "cache/fact_memory.hpp"
#include "datastore/datastore.hpp"
#include "model/json_fields.hpp"
#include "providers/local/fact_codec.hpp"
#include "providers/local/flat_json.hpp"
#include "util/parallel.hpp"
#include "util/error.hpp"

namespace mfsql {
namespace {

constexpr size_t kMaxJsonFile = 16u << 20;  // a _meta JSON file is a few hundred bytes

// The folder of `p` (its pathspec), and of its `_meta`: one allocation each, since every
// remembered fact of every row looks its folder up by this name.
std::string dir_of(const ObjectPath& p) { return p.pathspec(); }
std::string meta_of(const ObjectPath& p) {
  std::string d;
  d.reserve(p.flow.size() + p.run_id.size() + p.step.size() + p.task_id.size() + 9);
  d += p.flow;
  for (const std::string* part : {&p.run_id, &p.step, &p.task_id}) {
    if (part->empty()) break;
    d += '/';
    d += *part;
  }
  d += "/_meta";
  return d;
}

bool safe_path(const ObjectPath& p) {
  for (const std::string* part : {&p.flow, &p.run_id, &p.step, &p.task_id})
    if (!part->empty() && !safe_component(*part)) return false;
  return !p.flow.empty();
}

int64_t ts_or_unknown(const std::string& self_json) {
  if (auto ts = flat_json::ts_epoch(self_json)) return *ts;
  try {
    return parse_ts_epoch(self_json);
  } catch (const CorruptRecord&) {
    return kUnknownTime;
  }
}

// A registration that cannot be read is still an artifact of the task: listed by its file's name,
// with the rest unknown, so that one damaged file hides nothing else.
ArtifactRecord artifact_of(const std::string& text, const ObjectPath& task, int attempt, const std::string& name) {
  if (auto fast = flat_json::artifact(text, task, attempt)) return std::move(*fast);
  try {
    return parse_artifact_json(text, task, attempt);
  } catch (const CorruptRecord&) {
    ArtifactRecord damaged{.task = task, .name = name, .attempt = attempt, .ts_ms = kUnknownTime, .damaged = true};
    return damaged;
  }
}

// Approximate sizes, for FactMemory's bound.
size_t approx_bytes(const std::string& s) { return sizeof s + s.capacity(); }
size_t approx_bytes(const ObjectPath& p) {
  return approx_bytes(p.flow) + approx_bytes(p.run_id) + approx_bytes(p.step) + approx_bytes(p.task_id);
}
size_t approx_bytes(const FlowRecord& r) { return sizeof r + r.flow.size() + (r.tags.size() + r.system_tags.size()) * 48; }
size_t approx_bytes(const RunRecord& r) {
  size_t n = sizeof r + approx_bytes(r.path) + r.user_name.size();
  for (auto* tags : {&r.tags, &r.system_tags})
    for (auto& t : *tags) n += approx_bytes(t);
  return n;
}
size_t approx_bytes(const StepRecord& r) { return sizeof r + approx_bytes(r.path); }
size_t approx_bytes(const TaskRecord& r) { return sizeof r + approx_bytes(r.path); }
size_t approx_bytes(const ArtifactRecord& a) {
  return sizeof a + approx_bytes(a.task) + a.name.size() + a.sha.size() + a.content_type.size() + a.location.size() +
         a.ds_type.size();
}
size_t approx_bytes(const MetadataEntry& e) {
  size_t n = sizeof e + approx_bytes(e.task) + e.field_name.size() + e.value.size() + e.type.size() + e.user_name.size();
  for (auto& t : e.tags) n += approx_bytes(t);
  return n;
}
template <typename T>
size_t approx_bytes(const std::optional<T>& v) {
  return sizeof v + (v ? approx_bytes(*v) : 0);
}
template <typename T>
size_t approx_bytes(const std::vector<T>& v) {
  size_t n = sizeof v;
  for (auto& x : v) n += approx_bytes(x);
  return n;
}

// What `decode` makes of `folder`, decoded once per state of the folder while the store is
// remembered (cache/fact_memory.hpp): `decode` reads only files of that folder (or, for a
// listing, the folder itself), so the folder's stat validates its result as it validates them.
template <typename Decode>
auto decoded_once(LocalFiles& files, const std::string& folder, std::string name, Decode decode) -> decltype(decode()) {
  using T = decltype(decode());
  FactMemory* facts = files.facts();
  if (!facts) return decode();
  std::optional<FolderCheck> check = files.known_folder_check(folder);
  if (check && !check->unknown) {  // unknown: nothing remembered stood for that check
    if (auto hit = facts->find<T>(folder, *check, name)) return *hit;
    // Decoded by an earlier process (or before this process's facts started over), persisted.
    int64_t checked_ns = 0;
    if (auto bytes = files.stored_fact(folder, *check, name, &checked_ns)) {
      T stored;
      if (fact_codec::decode(bytes->bytes, stored)) {
        facts->remember(folder, FolderCheck{check->stat, checked_ns}, name, stored, approx_bytes(stored));
        return stored;
      }
    }
  }
  T value = decode();
  // First read of the folder: the check its read made before reading it (none: it is not there).
  if (!check) check = files.statement_check(folder);
  if (check) {
    const size_t bytes = approx_bytes(value);
    auto shared = std::make_shared<const T>(std::move(value));
    // Encoded on the shard writer's thread, after the statement (the bytes only a later process reads).
    files.remember_decoded(
        folder, *check, std::move(name), shared,
        +[](const void* v) { return fact_codec::encode(*static_cast<const T*>(v)); }, bytes / 2, bytes);
    return *shared;
  }
  return value;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names) out += n + "/";  // '/' never occurs in a (safe) name
  return out;
}

}  // namespace

std::string LocalMetadata::describe() const { return "the local store at " + files_->root(); }

std::shared_ptr<const std::string> LocalMetadata::read_self(const std::string& dir) {
  try {
    return files_->read_shared(dir + "/_meta/_self.json", kMaxJsonFile);
  } catch (const CorruptRecord&) {
    // there but unreadable (the trace says why): a damaged record, not a missing one
    return std::make_shared<const std::string>();
  }
}

std::vector<std::string> LocalMetadata::child_dirs(const std::string& dir) {
  return decoded_once(*files_, dir, "children", [&] {
    const auto listing = files_->list(dir);  // held: a range-for would not keep the temporary alive
    std::vector<std::string> out;
    for (auto& e : *listing)
      if (e.is_dir && e.name != "_meta" && e.name != "data") out.emplace_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
  });
}

std::vector<FlowRecord> LocalMetadata::flows() {
  std::vector<FlowRecord> out;
  for (auto& name : child_dirs(""))
    if (auto f = flow(name)) out.push_back(std::move(*f));
  return out;
}

std::optional<FlowRecord> LocalMetadata::flow(const std::string& name) {
  if (!safe_component(name)) return std::nullopt;
  return decoded_once(*files_, name + "/_meta", "flow", [&] { return decode_flow(name); });
}

std::optional<FlowRecord> LocalMetadata::decode_flow(const std::string& name) {
  auto text = read_self(name);
  if (!text) return std::nullopt;
  // Metaflow writes a flow's record without tags; one that has them takes the general decoder.
  if (text->find("tags") == std::string::npos)
    if (auto ts = flat_json::ts_epoch(*text)) return FlowRecord{name, *ts};
  try {
    return parse_flow_json(*text, name);
  } catch (const CorruptRecord&) {
    return FlowRecord{name, kUnknownTime};  // listed, with unknown time, rather than failing the query
  }
}

// Reads the records of many children at once, on both cores: a flow's runs or a step's tasks are
// hundreds to thousands of independent small files.
template <typename Record, typename Read>
std::vector<Record> read_children(const std::vector<std::string>& ids, Read read) {
  std::vector<std::optional<Record>> slots(ids.size());
  parallel_for(ids.size(), [&](size_t i) { slots[i] = read(ids[i]); });
  std::vector<Record> out;
  for (auto& s : slots)
    if (s) out.push_back(std::move(*s));
  return out;
}

std::vector<RunRecord> LocalMetadata::runs(const std::string& flow) {
  if (!safe_component(flow)) return {};
  return read_children<RunRecord>(child_dirs(flow), [&](const std::string& id) { return run({flow, id, {}, {}}); });
}

std::optional<RunRecord> LocalMetadata::run(const ObjectPath& path) {
  if (!safe_path(path)) return std::nullopt;
  return decoded_once(*files_, meta_of(path), "run", [&] { return decode_run(path); });
}

std::optional<RunRecord> LocalMetadata::decode_run(const ObjectPath& path) {
  auto text = read_self(dir_of(path));
  if (!text) return std::nullopt;
  if (auto fast = flat_json::run(*text, path)) return fast;
  try {
    return parse_run_json(*text, path);
  } catch (const CorruptRecord&) {
    RunRecord damaged;
    damaged.path = path;
    damaged.ts_ms = kUnknownTime;
    damaged.damaged = true;
    return damaged;
  }
}

std::vector<StepRecord> LocalMetadata::steps(const ObjectPath& run) {
  std::vector<StepRecord> out;
  if (!safe_path(run)) return out;
  for (auto& name : child_dirs(dir_of(run)))
    if (auto s = step({run.flow, run.run_id, name, {}})) out.push_back(std::move(*s));
  return out;
}

std::optional<StepRecord> LocalMetadata::step(const ObjectPath& path) {
  if (!safe_path(path)) return std::nullopt;
  return decoded_once(*files_, meta_of(path), "step", [&]() -> std::optional<StepRecord> {
    auto text = read_self(dir_of(path));
    if (!text) return std::nullopt;
    return StepRecord{path, ts_or_unknown(*text)};
  });
}

std::vector<TaskRecord> LocalMetadata::tasks(const ObjectPath& step) {
  if (!safe_path(step)) return {};
  return read_children<TaskRecord>(child_dirs(dir_of(step)), [&](const std::string& id) {
    return task({step.flow, step.run_id, step.step, id});
  });
}

std::optional<TaskRecord> LocalMetadata::task(const ObjectPath& path) {
  if (!safe_path(path)) return std::nullopt;
  return decoded_once(*files_, meta_of(path), "task", [&]() -> std::optional<TaskRecord> {
    auto text = read_self(dir_of(path));
    if (!text) return std::nullopt;
    return TaskRecord{path, ts_or_unknown(*text), std::nullopt};
  });
}

std::optional<int> LocalMetadata::done_attempt(const std::string& meta, const Listing& entries) {
  std::string last;
  for (auto& e : entries)
    if (!e.is_dir && e.name.rfind("sysmeta_attempt-done_", 0) == 0 && e.name > last) last = e.name;
  if (last.empty()) return std::nullopt;
  auto text = files_->read_shared(meta + "/" + last, kMaxJsonFile);
  if (!text) return std::nullopt;
  auto fast = flat_json::attempt_done(*text);
  auto attempt = fast ? *fast : parse_attempt_done(*text);
  if (!attempt) throw CorruptRecord("The file " + meta + "/" + last + " does not name an attempt.");
  return attempt;
}

std::vector<ArtifactRecord> LocalMetadata::artifacts(const ObjectPath& task, std::optional<int> attempt,
                                                     const std::optional<std::string>& name) {
  if (name) return artifacts_named(task, attempt, {*name});
  if (!safe_path(task)) return {};
  const std::string meta = meta_of(task);
  return decoded_once(*files_, meta, "artifacts:" + (attempt ? std::to_string(*attempt) : "shown"),
                      [&] { return decode_artifacts(task, meta, attempt); });
}

std::vector<ArtifactRecord> LocalMetadata::decode_artifacts(const ObjectPath& task, const std::string& meta,
                                                            std::optional<int> attempt) {
  std::vector<ArtifactRecord> out;
  auto listing = files_->list(meta);
  const auto& entries = *listing;
  if (!attempt) attempt = done_attempt(meta, entries);
  if (!attempt) return out;  // no finished attempt: the task shows no artifacts
  const std::string prefix = std::to_string(*attempt) + "_artifact_";
  for (auto& e : entries)
    if (!e.is_dir && e.name.rfind(prefix, 0) == 0 && e.name.size() > 5 &&
        e.name.compare(e.name.size() - 5, 5, ".json") == 0)
      if (auto text = files_->read_shared(meta + "/" + std::string(e.name), kMaxJsonFile))
        out.push_back(artifact_of(*text, task, *attempt,
                                  std::string(e.name.substr(prefix.size(), e.name.size() - prefix.size() - 5))));
  return out;
}

std::vector<ArtifactRecord> LocalMetadata::artifacts_named(const ObjectPath& task, std::optional<int> attempt,
                                                           const std::vector<std::string>& names) {
  if (!safe_path(task)) return {};
  const std::string meta = meta_of(task);
  return decoded_once(*files_, meta,
                      "named:" + (attempt ? std::to_string(*attempt) : "shown") + ":" + join_names(names),
                      [&] { return decode_artifacts_named(task, meta, attempt, names); });
}

std::vector<ArtifactRecord> LocalMetadata::decode_artifacts_named(const ObjectPath& task, const std::string& meta,
                                                                  std::optional<int> attempt,
                                                                  const std::vector<std::string>& names) {
  std::vector<ArtifactRecord> out;
  if (!attempt) attempt = done_attempt(meta, *files_->list(meta));  // (the listing lives to the ';')
  if (!attempt) return out;
  for (auto& name : names) {
    if (!safe_component(name)) continue;
    // Straight to the registration file: no listing of the task's (large) _meta folder.
    auto text = files_->read_shared(meta + "/" + std::to_string(*attempt) + "_artifact_" + name + ".json", kMaxJsonFile);
    if (text) out.push_back(artifact_of(*text, task, *attempt, name));
  }
  return out;
}

std::vector<MetadataEntry> LocalMetadata::metadata(const ObjectPath& task) { return read_metadata(task, "sysmeta_"); }

std::vector<MetadataEntry> LocalMetadata::metadata_field(const ObjectPath& task, const std::string& field) {
  // Files are named sysmeta_<field>_<ms>.json; a field that is a prefix of another (attempt,
  // attempt_ok) is told apart by the JSON's own field_name.
  std::vector<MetadataEntry> out;
  if (!safe_component(field)) return out;
  for (auto& e : read_metadata(task, "sysmeta_" + field + "_"))
    if (e.field_name == field) out.push_back(std::move(e));
  return out;
}

std::vector<MetadataEntry> LocalMetadata::read_metadata(const ObjectPath& task, const std::string& prefix) {
  if (!safe_path(task)) return {};
  const std::string meta = meta_of(task);
  return decoded_once(*files_, meta, "metadata:" + prefix, [&] { return decode_metadata(task, meta, prefix); });
}

std::vector<MetadataEntry> LocalMetadata::decode_metadata(const ObjectPath& task, const std::string& meta,
                                                          const std::string& prefix) {
  std::vector<MetadataEntry> out;
  std::vector<std::string> names;
  const auto listing = files_->list(meta);
  for (auto& e : *listing)
    if (!e.is_dir && e.name.rfind(prefix, 0) == 0) names.emplace_back(e.name);
  std::sort(names.begin(), names.end());
  int64_t order = 0;
  for (auto& n : names) {
    auto text = files_->read_shared(meta + "/" + n, kMaxJsonFile);
    if (!text) continue;
    try {
      auto fast = flat_json::metadata(*text, task);
      auto entry = fast ? std::move(*fast) : parse_metadata_json(*text, task);
      entry.id = ++order;
      out.push_back(std::move(entry));
    } catch (const CorruptRecord&) {
      // One unreadable entry does not hide the others; metadata_dict simply lacks it.
    }
  }
  return out;
}

}  // namespace mfsql
