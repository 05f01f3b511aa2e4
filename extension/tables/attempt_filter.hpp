#pragma once
// `attempt = N` / `attempt IN (...)` on tables that read one attempt of a task (artifacts, logs).
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <vector>

#include "engine/table.hpp"

namespace mfsql::tables {

// The attempts the query fixed, or {nullopt} for "the attempt the client shows". Values that are
// not whole numbers in Metaflow's range match nothing (SQLite compares 1 = 1.0 as equal, so
// "1.0" counts as 1).
inline std::vector<std::optional<int>> requested_attempts(const engine::Plan& plan, int column) {
  const auto* values = plan.values(column);
  if (!values) return {std::nullopt};
  std::vector<std::optional<int>> out;
  for (auto& text : *values) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (errno || end == text.c_str() || *end || v < 0 || v > 1000 || v != static_cast<int>(v)) continue;
    out.push_back(static_cast<int>(v));
  }
  return out;
}

}  // namespace mfsql::tables
