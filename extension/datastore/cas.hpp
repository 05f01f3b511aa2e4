#pragma once
// Metaflow's content-addressed store on top of any Datastore: where a blob lives, and how its
// stored bytes become the serializer's bytes (metaflow-format.md §2.2).
#include <cstddef>
#include <optional>
#include <string>

#include "datastore/datastore.hpp"
#include "model/records.hpp"

namespace mfsql {

std::string blob_key(const std::string& flow, const std::string& sha);

// "<flow>/<run>/<step>/<task>/<attempt>.<name>", e.g. "0.data.json", "1.runtime_stdout.log".
std::string task_file_key(const ObjectPath& task, int attempt, const std::string& name);

// The serializer's bytes of a stored blob: gunzipped unless its attributes say cas_raw; legacy
// blobs without attributes are gzip. Throws CorruptRecord naming `key` when that fails.
std::string decode_blob(const StoredObject& stored, const std::string& key, size_t max_size);

// True when `sha` looks like a CAS key (40 lowercase hex digits), so it is safe as a path part.
bool valid_sha(const std::string& sha);

}  // namespace mfsql
