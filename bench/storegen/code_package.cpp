#include "storegen/code_package.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "storegen/py_json.hpp"

namespace mfsql::storegen {

namespace {

// An octal field of `width` bytes: digits, then NUL.
void octal(char* field, size_t width, uint64_t value) { std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(value)); }

}  // namespace

std::string ustar(const std::vector<std::pair<std::string, std::string>>& files, uint32_t mtime) {
  std::string out;
  for (const auto& [name, content] : files) {
    if (name.size() > 100) throw std::runtime_error("ustar: name too long: " + name);
    char h[512] = {};
    std::memcpy(h, name.data(), name.size());
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, content.size());
    octal(h + 136, 12, mtime);
    h[156] = '0';
    std::memcpy(h + 257, "ustar\0" "00", 8);
    std::memset(h + 148, ' ', 8);  // the checksum counts its own field as spaces
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out.append(h, sizeof h);
    out += content;
    out.append((512 - content.size() % 512) % 512, '\0');
  }
  out.append(1024, '\0');  // two zero blocks end the archive
  return out;
}

std::string write_code_package(BlobStore& blobs, const Environment& env, const std::string& flow,
                               const std::string& script_name, const std::string& flow_source, const std::string& user) {
  const std::string info = PyJsonObject()
                               .str("platform", "Linux")
                               .str("username", user)
                               .str("runtime", env.runtime)
                               .str("environment_type", "local")
                               .boolean("use_r", false)
                               .str("python_version", env.python_version_full)
                               .str("python_version_code", env.python_version)
                               .str("metaflow_version", env.metaflow_version)
                               .str("script", script_name)
                               .raw("ext_info", "[{}, {}]")
                               .finish();
  const std::string tar = ustar({{".mf_code/metaflow/__init__.py", "# Metaflow " + env.metaflow_version + "\n"},
                                 {".mf_install", R"({"version": 1, "module_files": []})"},
                                 {".mf_meta/CONFIG", "{}"},
                                 {".mf_meta/INFO", info},
                                 {script_name, flow_source}},
                                1748854800);
  const std::string sha = blobs.store_raw(python_gzip(tar, 1748854800));
  const std::string location = env.ds_root + "/" + flow + "/data/" + sha.substr(0, 2) + "/" + sha;
  return PyJsonObject()
      .str("ds_type", "local")
      .str("sha", sha)
      .str("location", location)
      .str("metadata", R"({"version": 0, "archive_format": "tgz", "mfcontent_version": 1})")
      .finish();
}

}  // namespace mfsql::storegen
