#pragma once
// The bytes of a decoded fact of the local store (providers/local/local_metadata.cpp: a record, a
// task's metadata entries, its artifact registrations, a folder's children), persisted in the
// shard beside the folder it was decoded from (cache/folder_memory.hpp, StoredFact), so that a new
// process parses no JSON for a folder whose stat still equals the one the fact was decoded under.
// The shard's checksum vouches for the bytes; decoding still checks every length and refuses
// anything left over, so a crafted row yields no fact (the caller then decodes the files).
// The encoding is part of the shard's format: change it, and bump the tag in cache/shard_codec.cpp.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/records.hpp"

namespace mfsql::fact_codec {

std::string encode(const std::vector<std::string>& v);
std::string encode(const std::optional<FlowRecord>& v);
std::string encode(const std::optional<RunRecord>& v);
std::string encode(const std::optional<StepRecord>& v);
std::string encode(const std::optional<TaskRecord>& v);
std::string encode(const std::vector<ArtifactRecord>& v);
std::string encode(const std::vector<MetadataEntry>& v);

// False (and `out` unspecified) when `bytes` is not a whole encoding of that type.
bool decode(std::string_view bytes, std::vector<std::string>& out);
bool decode(std::string_view bytes, std::optional<FlowRecord>& out);
bool decode(std::string_view bytes, std::optional<RunRecord>& out);
bool decode(std::string_view bytes, std::optional<StepRecord>& out);
bool decode(std::string_view bytes, std::optional<TaskRecord>& out);
bool decode(std::string_view bytes, std::vector<ArtifactRecord>& out);
bool decode(std::string_view bytes, std::vector<MetadataEntry>& out);

}  // namespace mfsql::fact_codec
