#pragma once
// Log files in mflog format (metaflow-format.md §3), as the local runtime writes
// `<attempt>.runtime_stdout.log` / `.runtime_stderr.log`: every line is
// `[MFLOG|0|<UTC %Y-%m-%dT%H:%M:%S.%f>Z|runtime|<uuid4>]<text>\n`.
#include <cstdint>
#include <string>
#include <vector>

#include "storegen/rng.hpp"

namespace mfsql::storegen {

struct LogLine {
  int64_t at_us = 0;  // when the runtime read the line, µs since the epoch
  std::string text;
  bool newline = true;  // Metaflow's final "Task failed." line has none
};

// "2026-11-27T00:07:37.469213" (no zone letter), from µs since the epoch.
std::string iso_utc_micros(int64_t epoch_us);

// A random (version 4) UUID drawn from `rng`, lowercase and hyphenated.
std::string uuid4(Rng& rng);

std::string mflog_text(const std::vector<LogLine>& lines, Rng& rng);

}  // namespace mfsql::storegen
