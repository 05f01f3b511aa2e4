// libFuzzer target for the JSON parsers of the store's records (model/json_fields.hpp): any text
// must either parse or throw CorruptRecord; a crash, a sanitizer report, a hang or another
// exception type is a bug. Seeds: corpus/fuzz_store_json (the fixture's _meta files).
//
// Build and run: bash scripts/fuzz.sh (or see tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/json_fields.hpp"
#include "util/error.hpp"

namespace {

template <typename F>
void guarded(F&& f) {
  try {
    f();
  } catch (const mfsql::CorruptRecord&) {
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
  return 0;
}
