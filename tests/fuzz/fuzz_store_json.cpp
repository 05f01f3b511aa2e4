// libFuzzer target for the JSON parsers of the store's records (model/json_fields.hpp): any text
// must either parse or throw CorruptRecord; a crash, a sanitizer report, a hang or another
// exception type is a bug. The local provider's fast path (providers/local/flat_json.hpp) is
// checked against them: whenever it decides, it must decide exactly as they do.
// Seeds: corpus/fuzz_store_json (the fixture's _meta files).
//
// Build and run: bash scripts/fuzz.sh (or see tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include <cstdlib>
#include <optional>

#include "model/json_fields.hpp"
#include "providers/local/flat_json.hpp"
#include "util/error.hpp"

namespace {

template <typename F>
void guarded(F&& f) {
  try {
    f();
  } catch (const mfsql::CorruptRecord&) {
  }
}

// The general decoder's answer, or nullopt when it reports damage.
template <typename F>
auto general(F&& f) -> std::optional<decltype(f())> {
  try {
    return f();
  } catch (const mfsql::CorruptRecord&) {
    return std::nullopt;
  }
}

void require(bool same) {
  if (!same) std::abort();  // the fast path and the general decoder disagree
}

void check_fast_path(const std::string& text, const mfsql::ObjectPath& run, const mfsql::ObjectPath& task) {
  using namespace mfsql;
  if (auto fast = flat_json::ts_epoch(text)) {
    auto slow = general([&] { return parse_ts_epoch(text); });
    require(slow.has_value() && *slow == *fast);
  }
  if (auto fast = flat_json::run(text, run)) {
    auto slow = general([&] { return parse_run_json(text, run); });
    require(slow && slow->user_name == fast->user_name && slow->ts_ms == fast->ts_ms && slow->tags == fast->tags &&
            slow->system_tags == fast->system_tags && slow->last_heartbeat_s == fast->last_heartbeat_s);
  }
  if (auto fast = flat_json::artifact(text, task, 0)) {
    auto slow = general([&] { return parse_artifact_json(text, task, 0); });
    require(slow && slow->name == fast->name && slow->sha == fast->sha && slow->content_type == fast->content_type &&
            slow->location == fast->location && slow->ds_type == fast->ds_type && slow->attempt == fast->attempt &&
            slow->ts_ms == fast->ts_ms);
  }
  if (auto fast = flat_json::metadata(text, task)) {
    auto slow = general([&] { return parse_metadata_json(text, task); });
    require(slow && slow->field_name == fast->field_name && slow->value == fast->value &&
            slow->value_is_json == fast->value_is_json && slow->type == fast->type &&
            slow->user_name == fast->user_name && slow->tags == fast->tags && slow->ts_ms == fast->ts_ms);
  }
  if (auto fast = flat_json::attempt_done(text)) {
    auto slow = general([&] { return parse_attempt_done(text); });  // (== on nested optionals compares the wrong level)
    require(slow.has_value() && *slow == *fast);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const mfsql::ObjectPath run{"F", "1", {}, {}};
  const mfsql::ObjectPath task{"F", "1", "start", "2"};
  guarded([&] { (void)mfsql::parse_run_json(text, run); });
  guarded([&] { (void)mfsql::parse_artifact_json(text, task, 0); });
  guarded([&] { (void)mfsql::parse_metadata_json(text, task); });
  guarded([&] { (void)mfsql::parse_attempt_done(text); });
  guarded([&] { (void)mfsql::parse_flow_json(text, "F"); });
  guarded([&] { (void)mfsql::parse_ts_epoch(text); });
  check_fast_path(text, run, task);
  return 0;
}
