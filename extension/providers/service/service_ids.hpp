#pragma once
// What the service provider's files share: ids as the service writes them, and the checks and
// keys its routes and the statement's marks are built from.
#include <string>

#include <nlohmann/json.hpp>

#include "model/json_fields.hpp"
#include "datastore/datastore.hpp"
#include "model/records.hpp"

namespace mfsql::service {

// A field that is an id: run_number and task_id come as integers or strings.
inline std::string id_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? std::string() : id_text(*it);
}

// Every given part of the path can be one URL path segment (and so one route's parameter).
inline bool valid(const ObjectPath& p, int depth) {
  const std::string* parts[] = {&p.flow, &p.run_id, &p.step, &p.task_id};
  for (int i = 0; i < depth; ++i)
    if (!safe_component(*parts[i])) return false;
  return true;
}

inline std::string run_key(const ObjectPath& p) { return p.flow + "/" + p.run_id; }
inline std::string step_key(const ObjectPath& p) { return p.flow + "/" + p.run_id + "/" + p.step; }

}  // namespace mfsql::service
