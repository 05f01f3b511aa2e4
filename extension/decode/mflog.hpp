#pragma once
// Metaflow's structured log lines (mflog, metaflow-format.md §3), parsed and merged exactly as the
// client's metaflow/mflog/mflog.py does, so `tasks.stdout` is byte for byte `Task.stdout`.
//
// A stored line looks like
//   [MFLOG|0|2026-11-26T23:15:48.238297Z|runtime|3e3706d6-...]hello stdout\n
// Lines that do not parse (no header, or a timestamp Python's strptime rejects) keep their raw
// bytes, newline included, and sort after every parsed line of their file.
#include <string>
#include <string_view>
#include <vector>

namespace mfsql::mflog {

// What mflog.py gives unparsable lines as their timestamp (MISSING_TIMESTAMP_STR).
inline constexpr std::string_view kMissingTimestamp = "3000-01-01T00:00:00.000000";

struct Line {
  std::string timestamp;  // as written, without its 'Z'; kMissingTimestamp when !parsed
  std::string iso;        // the same instant in the column form "YYYY-MM-DD HH:MM:SS.SSS" (UTC, cut to
                          // milliseconds like every time column, util/time.hpp); empty when !parsed
  std::string source;     // the header's source field ("runtime", "task"); empty when !parsed
  std::string id;         // the header's line id; empty when !parsed
  std::string message;    // the text after the header, without the newline; the raw line when !parsed
  bool parsed = false;
  bool persist = false;  // the line began with the "[!" should-persist marker
  int blob = 0;          // which input of merge() the line came from
};

// The lines of one log file in the order mflog.py's line_iter yields them: parsed lines in file
// order, then the unparsable ones. (Splitting keeps each line's '\n', as iterating a BytesIO does.)
std::vector<Line> parse(std::string_view blob);

// One line; `parsed` is false when it is not a valid mflog line.
Line parse_line(std::string_view line);

// True when `timestamp` is what datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f") accepts (for
// ASCII text; Python would also take non-ASCII digits, which no writer produces). On success
// `iso` gets the instant in the column form (util/time.hpp).
bool valid_timestamp(std::string_view timestamp, std::string* iso = nullptr);

// merge_logs: each file's lines sorted (by timestamp text, then the rest of the line as Python's
// tuple comparison does), then merged with heapq.merge, earlier files first on ties. Sets `blob`.
std::vector<Line> merge(std::vector<std::vector<Line>> files);

// The text with every byte that is not part of valid UTF-8 replaced by U+FFFD. The client decodes
// strictly and raises; SQL callers (Python's sqlite3 among them) need valid text instead.
std::string valid_utf8(std::string_view text);

}  // namespace mfsql::mflog
