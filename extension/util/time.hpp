#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace mfsql {

// Milliseconds since the epoch -> "2026-11-26T23:15:48.238Z" (UTC, sorts as text).
std::string iso_utc_ms(int64_t epoch_ms);

// The same, or nullopt for a negative (unknown) time.
std::optional<std::string> iso_utc_ms_or_null(int64_t epoch_ms);

// "2026-11-26T23:15:48.238297Z" (mflog) -> the same text normalised to the column format, kept
// at microseconds when given; nullopt when it is not such a timestamp.
std::optional<std::string> normalize_iso(const std::string& text);

}  // namespace mfsql
