// PathFilter: which flows, runs, steps, tasks and names a statement's path columns allow -- the
// lookups the walk makes instead of listings (tables/walk.hpp).
#include <algorithm>

#include "tables/walk.hpp"

namespace mfsql::tables {
namespace {

std::vector<std::string> split_pathspec(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    parts.push_back(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

void intersect(std::optional<std::vector<std::string>>& level, const std::vector<std::string>& allowed) {
  if (!level) {
    level = allowed;
    return;
  }
  std::vector<std::string> kept;
  for (auto& v : *level)
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) kept.push_back(v);
  level = std::move(kept);
}

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool has_ascii_letter(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

}  // namespace

PathFilter::PathFilter(const engine::Plan& plan, const PathColumns& c) {
  const int cols[5] = {c.flow, c.run_id, c.step, c.task_id, c.name};
  int depth = 0;
  for (int i = 0; i < 5; ++i)
    if (cols[i] >= 0) depth = i + 1;
  for (int i = 0; i < 5; ++i)
    if (cols[i] >= 0 && plan.values(cols[i])) levels_[i] = *plan.values(cols[i]);
  if (c.pathspec >= 0 && plan.values(c.pathspec)) {
    pathspecs_ = *plan.values(c.pathspec);
    std::vector<std::string> parts_at[5];
    for (auto& p : *pathspecs_) {
      auto parts = split_pathspec(p);
      if (static_cast<int>(parts.size()) != depth) continue;  // cannot name a row of this table
      for (int i = 0; i < depth; ++i)
        if (std::find(parts_at[i].begin(), parts_at[i].end(), parts[i]) == parts_at[i].end())
          parts_at[i].push_back(parts[i]);
    }
    for (int i = 0; i < depth; ++i) intersect(levels_[i], parts_at[i]);
  }
  for (const auto& pattern : plan.patterns)
    if (pattern.column == c.pathspec) narrow_by_pattern(pattern, depth);
  if (const auto* values = c.private_names >= 0 ? plan.values(c.private_names) : nullptr) {
    if (values->size() != 1 || ((*values)[0] != "0" && (*values)[0] != "1"))
      throw UserError("private takes one value, 0 or 1: private = 1 includes the names Metaflow keeps private "
                      "(_parameters, _task_ok, ...).");
    private_names_ = (*values)[0] == "1";
  }
}

engine::Value private_value(const engine::Plan& plan, int column) {
  const std::string* given = plan.only(column);
  return engine::Value::of(int64_t{given && *given == "1" ? 1 : 0});
}

void PathFilter::narrow_by_pattern(const engine::Plan::Pattern& p, int depth) {
  const char* wildcards = p.glob ? "*?[" : "%_";
  const size_t first_wildcard = p.text.find_first_of(wildcards);
  std::vector<std::string> segments = split_pathspec(p.text.substr(0, first_wildcard));
  if (first_wildcard != std::string::npos) {
    // The segment holding the wildcard is not literal, and a wildcard may match '/' as well, so
    // nothing after it narrows anything.
    segments.pop_back();
  } else if (static_cast<int>(segments.size()) != depth) {
    levels_[0] = std::vector<std::string>{};  // no wildcard: it names an object of another depth
    return;
  }
  for (int i = 0; i < depth && i < static_cast<int>(segments.size()); ++i) {
    if (p.glob || !has_ascii_letter(segments[i])) intersect(levels_[i], {segments[i]});
    else folded_[i].push_back(ascii_lower(segments[i]));
  }
}

bool PathFilter::allows(int level, const std::string& name) const {
  if (folded_[level].empty()) return true;
  const std::string folded = ascii_lower(name);
  return std::all_of(folded_[level].begin(), folded_[level].end(), [&](const std::string& f) { return f == folded; });
}

bool PathFilter::accepts(const std::string& pathspec) const {
  return !pathspecs_ || std::find(pathspecs_->begin(), pathspecs_->end(), pathspec) != pathspecs_->end();
}

}  // namespace mfsql::tables
