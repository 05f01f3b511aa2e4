#pragma once
// A code package as Metaflow 2.19 writes one with METAFLOW_FEAT_ALWAYS_UPLOAD_CODE_PACKAGE (a v1
// layout: the `.mf_install` marker, `.mf_meta/INFO`, the flow file at the root, Metaflow under
// `.mf_code/`), stored raw in the flow's CAS, and the `code-package` metadata value naming it.
#include <string>

#include "storegen/blob_store.hpp"
#include "storegen/store_writer.hpp"

namespace mfsql::storegen {

// Writes the package of `script_name` (whose text is `flow_source`) into `blobs` once and returns
// the `code-package` metadata value: {"ds_type", "sha", "location", "metadata"} as json.dumps writes it.
std::string write_code_package(BlobStore& blobs, const Environment& env, const std::string& flow,
                               const std::string& script_name, const std::string& flow_source, const std::string& user);

// A ustar archive of these files (mode 0644, mtime `mtime`), as Python's tarfile writes regular files.
std::string ustar(const std::vector<std::pair<std::string, std::string>>& files, uint32_t mtime);

}  // namespace mfsql::storegen
