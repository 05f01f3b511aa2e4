#pragma once
// What a metadata provider knows about each Metaflow object, in provider-neutral form. The local
// store's _self.json / sysmeta / artifact files and the metadata service's JSON both map onto these.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <vector>

namespace mfsql {

// ts_ms of an object whose record exists but cannot be read (a damaged _self.json): its time
// columns are NULL and its listing position is last.
constexpr int64_t kUnknownTime = -1;

// Sorts records newest first (by ts_ms), ties in their given order. A record is a dozen strings,
// so the order is found on (time, position) pairs and each record then moved once, rather than
// moved about by the sort: a flow's thousand runs are sorted in every statement.
template <typename Record>
void sort_newest_first(std::vector<Record>& records) {
  auto newer = [](const Record& a, const Record& b) { return a.ts_ms > b.ts_ms; };
  if (std::is_sorted(records.begin(), records.end(), newer)) return;
  std::vector<std::pair<int64_t, size_t>> order;  // (ts_ms, position): distinct, so a plain sort is stable
  order.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) order.emplace_back(records[i].ts_ms, i);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<Record> sorted;
  sorted.reserve(records.size());
  for (auto& [ts_ms, i] : order) sorted.push_back(std::move(records[i]));
  records = std::move(sorted);
}

// A path in the Flow -> Run -> Step -> Task tree; the trailing parts are empty for shorter paths.
struct ObjectPath {
  std::string flow, run_id, step, task_id;

  std::string pathspec() const;  // "Flow/Run/Step/Task", as deep as the path goes
  ObjectPath run_path() const { return {flow, run_id, {}, {}}; }
  bool operator==(const ObjectPath&) const = default;
};

struct FlowRecord {
  std::string flow;
  int64_t ts_ms = 0;
  std::vector<std::string> tags, system_tags;  // sorted; Metaflow registers flows without any
};

struct RunRecord {
  ObjectPath path;
  std::string user_name;
  int64_t ts_ms = 0;
  std::vector<std::string> tags, system_tags;  // sorted, deduplicated
  std::optional<int64_t> last_heartbeat_s;     // metadata service only
  // The service's own status (completed, failed, running), when its listing carried it (asked
  // with a status filter). Its rule is not the client's: see client::server_status_stands.
  std::optional<std::string> server_status;
  bool damaged = false;  // its record exists but cannot be read: tags, user and time are unknown
};

struct StepRecord {
  ObjectPath path;
  int64_t ts_ms = 0;
};

struct TaskRecord {
  ObjectPath path;
  int64_t ts_ms = 0;
  std::optional<int64_t> last_heartbeat_s;
};

struct ArtifactRecord {
  ObjectPath task;
  std::string name, sha;
  std::string content_type;  // the serializer encoding, e.g. "pickle-v4"
  std::string location;      // ":root:<datastore root>" as recorded (never trusted as a path)
  std::string ds_type;
  int attempt = 0;
  int64_t ts_ms = 0;
  bool damaged = false;  // its registration exists but cannot be read: only name and attempt are known
};

struct MetadataEntry {
  ObjectPath task;
  std::string field_name;
  std::string value;  // text as stored; a non-string JSON value is kept as its JSON text
  bool value_is_json = false;  // true for such non-string values (foreach-stack is a list)
  std::string type;
  std::string user_name;
  std::vector<std::string> tags;
  int64_t ts_ms = 0;
  int64_t id = 0;  // service row id, or file order for the local store (ties in ts_ms)

  // The N of an "attempt_id:N" tag, if any.
  std::optional<int> attempt_tag() const;
};

}  // namespace mfsql
