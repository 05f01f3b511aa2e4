#include "providers/local/fact_codec.hpp"

#include <cstdint>

#include "util/varint.hpp"

namespace mfsql::fact_codec {
namespace {

// Varints for counts, lengths and integers (zigzag for signed ones); strings are a length, then
// the bytes. One pair of overload sets walks every type for both directions.
struct Out {
  std::string s;
  void varint(uint64_t v) { append_varint(s, v); }
};
struct In {
  std::string_view s;
  bool bad = false;
  uint64_t varint() {
    if (auto v = read_varint(s)) return *v;
    bad = true;
    return 0;
  }
};

void put(Out& o, int64_t v) { o.varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
void put(Out& o, int v) { put(o, static_cast<int64_t>(v)); }
void put(Out& o, bool v) { o.varint(v ? 1 : 0); }
void put(Out& o, const std::string& v) { o.varint(v.size()), o.s.append(v); }
template <typename T>
void put(Out& o, const std::optional<T>& v) {
  put(o, v.has_value());
  if (v) put(o, *v);
}
template <typename T>
void put(Out& o, const std::vector<T>& v) {
  o.varint(v.size());
  for (auto& x : v) put(o, x);
}
void put(Out& o, const ObjectPath& p) { put(o, p.flow), put(o, p.run_id), put(o, p.step), put(o, p.task_id); }
void put(Out& o, const FlowRecord& r) { put(o, r.flow), put(o, r.ts_ms), put(o, r.tags), put(o, r.system_tags); }
void put(Out& o, const RunRecord& r) {
  put(o, r.path), put(o, r.user_name), put(o, r.ts_ms), put(o, r.tags), put(o, r.system_tags);
  put(o, r.last_heartbeat_s), put(o, r.server_status), put(o, r.damaged);
}
void put(Out& o, const StepRecord& r) { put(o, r.path), put(o, r.ts_ms); }
void put(Out& o, const TaskRecord& r) { put(o, r.path), put(o, r.ts_ms), put(o, r.last_heartbeat_s); }
void put(Out& o, const ArtifactRecord& a) {
  put(o, a.task), put(o, a.name), put(o, a.sha), put(o, a.content_type), put(o, a.location), put(o, a.ds_type);
  put(o, a.attempt), put(o, a.ts_ms), put(o, a.damaged);
}
void put(Out& o, const MetadataEntry& e) {
  put(o, e.task), put(o, e.field_name), put(o, e.value), put(o, e.value_is_json), put(o, e.type);
  put(o, e.user_name), put(o, e.tags), put(o, e.ts_ms), put(o, e.id);
}

void get(In& i, int64_t& v) {
  const uint64_t z = i.varint();
  v = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
}
void get(In& i, int& v) {
  int64_t w;
  get(i, w);
  if (w < INT32_MIN || w > INT32_MAX) i.bad = true;
  v = static_cast<int>(w);
}
void get(In& i, bool& v) {
  const uint64_t b = i.varint();
  if (b > 1) i.bad = true;
  v = b == 1;
}
void get(In& i, std::string& v) {
  const uint64_t n = i.varint();
  if (i.bad || n > i.s.size()) {
    i.bad = true;
    return;
  }
  v.assign(i.s.substr(0, n));
  i.s.remove_prefix(n);
}
template <typename T>
void get(In& i, std::optional<T>& v) {
  bool present;
  get(i, present);
  v.reset();
  if (present && !i.bad) get(i, v.emplace());
}
template <typename T>
void get(In& i, std::vector<T>& v) {
  const uint64_t n = i.varint();
  v.clear();
  if (i.bad || n > i.s.size()) {  // every element takes at least one byte
    i.bad = true;
    return;
  }
  v.resize(n);
  for (auto& x : v)
    if (!i.bad) get(i, x);
}
void get(In& i, ObjectPath& p) { get(i, p.flow), get(i, p.run_id), get(i, p.step), get(i, p.task_id); }
void get(In& i, FlowRecord& r) { get(i, r.flow), get(i, r.ts_ms), get(i, r.tags), get(i, r.system_tags); }
void get(In& i, RunRecord& r) {
  get(i, r.path), get(i, r.user_name), get(i, r.ts_ms), get(i, r.tags), get(i, r.system_tags);
  get(i, r.last_heartbeat_s), get(i, r.server_status), get(i, r.damaged);
}
void get(In& i, StepRecord& r) { get(i, r.path), get(i, r.ts_ms); }
void get(In& i, TaskRecord& r) { get(i, r.path), get(i, r.ts_ms), get(i, r.last_heartbeat_s); }
void get(In& i, ArtifactRecord& a) {
  get(i, a.task), get(i, a.name), get(i, a.sha), get(i, a.content_type), get(i, a.location), get(i, a.ds_type);
  get(i, a.attempt), get(i, a.ts_ms), get(i, a.damaged);
}
void get(In& i, MetadataEntry& e) {
  get(i, e.task), get(i, e.field_name), get(i, e.value), get(i, e.value_is_json), get(i, e.type);
  get(i, e.user_name), get(i, e.tags), get(i, e.ts_ms), get(i, e.id);
}

template <typename T>
std::string encode_any(const T& v) {
  Out o;
  put(o, v);
  return std::move(o.s);
}
template <typename T>
bool decode_any(std::string_view bytes, T& out) {
  In i{bytes};
  get(i, out);
  return !i.bad && i.s.empty();
}

}  // namespace

std::string encode(const std::vector<std::string>& v) { return encode_any(v); }
std::string encode(const std::optional<FlowRecord>& v) { return encode_any(v); }
std::string encode(const std::optional<RunRecord>& v) { return encode_any(v); }
std::string encode(const std::optional<StepRecord>& v) { return encode_any(v); }
std::string encode(const std::optional<TaskRecord>& v) { return encode_any(v); }
std::string encode(const std::vector<ArtifactRecord>& v) { return encode_any(v); }
std::string encode(const std::vector<MetadataEntry>& v) { return encode_any(v); }
bool decode(std::string_view b, std::vector<std::string>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::optional<FlowRecord>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::optional<RunRecord>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::optional<StepRecord>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::optional<TaskRecord>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::vector<ArtifactRecord>& out) { return decode_any(b, out); }
bool decode(std::string_view b, std::vector<MetadataEntry>& out) { return decode_any(b, out); }

}  // namespace mfsql::fact_codec
