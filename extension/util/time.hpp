#pragma once
// The one text form of every time column: SQLite's own "YYYY-MM-DD HH:MM:SS.SSS", in UTC.
//
// Why this form (README, "Times"): it sorts as text, and it compares correctly with what SQLite's
// date functions return — datetime('now', '-7 days') is "YYYY-MM-DD HH:MM:SS", so a time with a
// 'T' (0x54 > ' ') would compare greater than every datetime() of the same day. date(),
// julianday() and strftime() parse it as UTC, and it round-trips through
// strftime('%Y-%m-%d %H:%M:%f', t). ISO 8601 allows the space in place of 'T' (RFC 3339 §5.6).
// The columns are declared TEXT: a declared type containing DATE or TIME would give them NUMERIC
// affinity, and then `created_at >= '2025'` compares a number with text and matches every row.
#include <cstdint>
#include <optional>
#include <string>

namespace mfsql {

// Milliseconds since the epoch -> "2026-11-26 23:15:48.238" (UTC, truncated to the millisecond).
// (The name predates the change of form; the tables call it, so it stays.)
std::string iso_utc_ms(int64_t epoch_ms);

// The same, or nullopt for a negative (unknown) time.
std::optional<std::string> iso_utc_ms_or_null(int64_t epoch_ms);

// A calendar time already checked to be valid (fields as written, `micros` 0..999999) in the same
// form: the microseconds are truncated, as the oracle's times are cut to the column's precision.
std::string sql_time(int year, int month, int day, int hour, int minute, int second, int micros);

}  // namespace mfsql
