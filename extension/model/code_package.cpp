#include "model/code_package.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <map>

#include "datastore/cas.hpp"
#include "model/task_history.hpp"
#include "util/error.hpp"
#include "util/sha1.hpp"

namespace mfsql::client {

using nlohmann::ordered_json;

namespace {

constexpr const char* kMarker = ".mf_install";            // MFCONTENT_MARKER: a v1 (or later) package
constexpr const char* kInfoV0 = "INFO";                   // MetaflowCodeContentV0
constexpr const char* kInfoV1 = ".mf_meta/INFO";          // MetaflowCodeContentV1: _other_dir/_info_file
constexpr const char* kCondaManifest = "conda.manifest";  // plugins/pypi MAGIC_FILE
constexpr size_t kMaxSmallMember = size_t{16} << 20;      // INFO, the marker, the manifest

// A member name mfsql lists: relative, without `..` parts (it never touches a filesystem, but a
// name that would climb out of an extraction folder is no package Metaflow writes).
bool safe_member_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (size_t start = 0; start <= name.size();) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (name.compare(start, slash - start, "..") == 0 && slash - start == 2) return false;
    start = slash + 1;
  }
  return true;
}

// One pass over a gzip'd tar held in memory, regular files only.
class TarReader {
 public:
  // The handle is owned by a member, so it is freed when the constructor itself throws (a package
  // that is not gzip'd tar fails in archive_read_open_memory).
  TarReader(const std::string& bytes, std::string what)
      : what_(std::move(what)), handle_(archive_read_new(), archive_read_free), archive_(handle_.get()) {
    if (!archive_) throw CorruptRecord("Out of memory opening " + what_ + ".");
    archive_read_support_filter_gzip(archive_);
    archive_read_support_format_tar(archive_);
    if (archive_read_open_memory(archive_, bytes.data(), bytes.size()) != ARCHIVE_OK) fail();
  }
  TarReader(const TarReader&) = delete;

  // The next regular file's name and size; nullopt at the end. Directories and links are skipped.
  std::optional<std::pair<std::string, int64_t>> next_file() {
    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(archive_, &entry);
      if (r == ARCHIVE_EOF) return std::nullopt;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail();
      const char* raw = archive_entry_pathname(entry);
      std::string name = raw ? raw : "";
      if (!safe_member_name(name))
        throw CorruptRecord(what_ + " has a member named '" + name.substr(0, 200) +
                            "' (absolute, empty or with '..'), which no Metaflow package has; mfsql does not read it.");
      if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry)) continue;
      return std::pair{std::move(name), static_cast<int64_t>(archive_entry_size(entry))};
    }
  }
  // Hands the current file's bytes to `sink` block by block.
  template <typename Sink>
  void read_data(Sink&& sink) {
    char buffer[1 << 16];
    for (;;) {
      la_ssize_t n = archive_read_data(archive_, buffer, sizeof buffer);
      if (n == 0) return;
      if (n < 0) fail();
      inflated_ += static_cast<size_t>(n);
      if (inflated_ > kMaxInflatedBytes)
        throw CorruptRecord(what_ + " inflates past " + std::to_string(kMaxInflatedBytes >> 20) +
                            " MiB; mfsql reads packages up to that size.");
      sink(std::string_view(buffer, static_cast<size_t>(n)));
    }
  }

 private:
  [[noreturn]] void fail() {
    const char* why = archive_error_string(archive_);
    throw CorruptRecord(what_ + " is not a readable gzip'd tar (" + std::string(why ? why : "unknown error") + ").");
  }
  std::string what_;
  std::unique_ptr<archive, int (*)(archive*)> handle_;
  archive* archive_;
  size_t inflated_ = 0;
};

std::string describe(const std::string& flow, const CodePackageRef& ref) {
  return "The code package " + blob_key(flow, ref.sha);
}

// The stored package, refused when it is not one mfsql can read.
std::string package_bytes(Store& store, const std::string& flow, const CodePackageRef& ref) {
  if (!valid_sha(ref.sha)) throw CorruptRecord("A code-package metadata entry names an invalid sha '" + ref.sha + "'.");
  if (ref.format != "tgz")
    throw CorruptRecord(describe(flow, ref) + " has archive format '" + ref.format + "'; mfsql reads tgz packages only.");
  const std::string key = blob_key(flow, ref.sha);
  const std::string too_large = describe(flow, ref) + " is larger than " + std::to_string(kMaxPackageBytes >> 20) +
                                " MiB; mfsql reads packages up to that size.";
  // Sized first (a stat, a HEAD on S3), so that a huge object is refused before it is read.
  const std::optional<uint64_t> size = store.data().size(key);
  if (size && *size > kMaxPackageBytes) throw CorruptRecord(too_large);
  auto stored = size ? store.data().get(key, false) : std::nullopt;
  if (!stored) throw CorruptRecord(describe(flow, ref) + " is missing from " + store.data().describe() + ".");
  if (stored->bytes.size() > kMaxPackageBytes) throw CorruptRecord(too_large);  // it grew since
  return std::move(stored->bytes);
}

std::shared_ptr<const CodePackageListing> list_package(const std::string& bytes, const std::string& what) {
  auto listing = std::make_shared<CodePackageListing>();
  std::map<std::string, size_t> position;  // a repeated name: the last copy, as tarfile.getmember
  std::map<std::string, std::string> small;  // the members the client reads, by name
  TarReader tar(bytes, what);
  while (auto file = tar.next_file()) {
    const auto& [name, size] = *file;
    const bool keep = name == kMarker || name == kInfoV0 || name == kInfoV1 || name == kCondaManifest;
    std::string content;
    Sha1 sha;
    tar.read_data([&](std::string_view block) {
      sha.update(block);
      if (keep && content.size() + block.size() <= kMaxSmallMember) content.append(block);
    });
    if (keep) small[name] = std::move(content);
    CodeFile entry{name, size, sha.hex_digest()};
    if (auto it = position.find(name); it != position.end()) {
      listing->files.erase(listing->files.begin() + static_cast<std::ptrdiff_t>(it->second));
      for (auto& [_, p] : position)
        if (p > it->second) --p;
    }
    position[name] = listing->files.size();
    listing->files.push_back(std::move(entry));
  }
  // The marker says the layout (packaging_sys _get_mfcontent_class): none is v0; version 1 keeps
  // INFO under .mf_meta; an unknown version has no INFO the client can find.
  int version = 0;
  if (auto m = small.find(kMarker); m != small.end()) {
    auto marker = nlohmann::json::parse(m->second, nullptr, false);
    version = marker.is_object() && marker.contains("version") && marker["version"].is_number_integer()
                  ? marker["version"].get<int>() : -1;
  }
  const char* info_name = version == 0 ? kInfoV0 : version == 1 ? kInfoV1 : nullptr;
  if (info_name)
    if (auto it = small.find(info_name); it != small.end()) listing->info_text = it->second;
  if (auto it = small.find(kCondaManifest); it != small.end()) listing->conda_manifest = it->second;
  return listing;
}

std::optional<std::string> text_of(const MetadataDict& dict, const std::string& name) {
  auto it = dict.find(name);
  return it == dict.end() ? std::nullopt : std::optional(it->second.text);
}

// Task.code reads metadata_dict["code-package"]: the task's own newest entry, else (a clone made
// by resume) its origin's. Reads only that field unless the task is a clone.
MetadataDict code_dict(Store& store, const ObjectPath& task) {
  MetadataDict own = metadata_dict(store.meta().metadata_field(task, "code-package"));
  if (own.empty() && !store.meta().metadata_field(task, "origin-task-id").empty()) return task_metadata_dict(store, task);
  return own;
}

}  // namespace

std::optional<CodePackageRef> code_package_ref(const MetadataDict& dict) {
  auto text = text_of(dict, "code-package");
  if (!text || text->empty()) return std::nullopt;
  return decoded("The code-package metadata", [&] {
    auto doc = nlohmann::json::parse(*text);
    CodePackageRef ref{doc.at("sha").get<std::string>(), doc.at("ds_type").get<std::string>(),
                       doc.at("location").get<std::string>()};
    if (doc.contains("metadata") && doc["metadata"].is_string()) {
      auto meta = nlohmann::json::parse(doc["metadata"].get<std::string>());
      ref.format = meta.value("archive_format", "tgz");
    }
    return ref;
  });
}

std::shared_ptr<const CodePackageListing> code_package(Store& store, const std::string& flow, const CodePackageRef& ref) {
  if (auto cached = store.code_packages().find(ref.sha)) return cached;
  std::lock_guard lock(store.code_packages().listing_mutex());
  if (auto cached = store.code_packages().find(ref.sha)) return cached;  // listed while this one waited
  auto listing = list_package(package_bytes(store, flow, ref), describe(flow, ref));
  store.code_packages().put(ref.sha, listing);
  return listing;
}

ordered_json code_info(const CodePackageListing& listing, const CodePackageRef& ref) {
  const std::string what = "The INFO of code package " + ref.sha;
  if (!listing.info_text) throw CorruptRecord("Code package " + ref.sha + " has no INFO the client can read.");
  return decoded(what, [&] {
    ordered_json info = ordered_json::parse(*listing.info_text);
    if (!info.is_object() || !info.at("script").is_string()) throw CorruptRecord(what + " names no script.");
    return info;
  });
}

std::string code_json(Store& store, const std::string& flow, const CodePackageRef& ref) {
  ordered_json info = code_info(*code_package(store, flow, ref), ref);
  ordered_json out = {{"sha", ref.sha}, {"ds_type", ref.ds_type}, {"location", ref.location}, {"info", info},
                      {"script_name", info["script"]}};
  return out.dump();
}

std::optional<std::string> task_code_json(Store& store, const std::string& flow, const MetadataDict& dict) {
  auto ref = code_package_ref(dict);
  return ref ? std::optional(code_json(store, flow, *ref)) : std::nullopt;
}

std::optional<std::string> environment_info_json(Store& store, const std::string& flow, const MetadataDict& dict) {
  auto ref = code_package_ref(dict);
  if (!ref) return std::nullopt;
  auto listing = code_package(store, flow, *ref);
  ordered_json info = code_info(*listing, *ref);
  const ordered_json type = info.value("environment_type", ordered_json());
  if (!type.is_string() || type.get<std::string>().empty()) return std::nullopt;  // the client: None
  const std::string env = type.get<std::string>();
  // MetaflowEnvironment's answer, which uv's environment inherits.
  if (env == "local" || env == "uv") return ordered_json("Local environment").dump();
  if (env != "conda" && env != "pypi") return std::nullopt;  // an extension's environment
  // CondaEnvironment.get_client_info: the manifest's entry for the task's conda_env_prefix
  // ("metaflow/<arch>/<env id>" split by '/': [2] then [1]), {} without the prefix.
  auto prefix = text_of(dict, "conda_env_prefix");
  if (!prefix) return "{}";
  const std::string what = "The conda.manifest of code package " + ref->sha;
  if (!listing->conda_manifest) throw CorruptRecord(what + " is missing.");
  return decoded(what, [&] {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t slash = prefix->find('/', start);
      parts.push_back(prefix->substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() < 3) throw CorruptRecord("The conda_env_prefix '" + *prefix + "' has too few parts.");
    return ordered_json::parse(*listing->conda_manifest).at(parts[2]).at(parts[1]).dump();
  });
}

std::optional<CodePackageRef> run_code_ref(Store& store, const ObjectPath& run) {
  store.meta().read_ahead({.scope = run, .task_lists = true, .metadata = true});
  std::vector<StepRecord> steps = store.meta().steps(run);
  std::erase_if(steps, [](const StepRecord& s) { return s.path.step.empty() || s.path.step[0] == '_'; });
  sort_newest_first(steps);
  for (const StepRecord& step : steps) {
    auto tasks = store.meta().tasks(step.path);
    if (const TaskRecord* task = newest(tasks))
      if (auto ref = code_package_ref(code_dict(store, task->path))) return ref;
  }
  return std::nullopt;
}

RunCode run_code(Store& store, const ObjectPath& run) {
  if (auto ref = run_code_ref(store, run)) {
    ordered_json info = code_info(*code_package(store, run.flow, *ref), *ref);
    return {code_json(store, run.flow, *ref), info["script"].get<std::string>()};
  }
  auto params = parameters_task(store, run);
  if (!params) return {};
  return {std::nullopt, text_of(metadata_dict(store.meta().metadata_field(params->path, "script-name")), "script-name")};
}

std::optional<std::string> step_environment_info_json(Store& store, const ObjectPath& step) {
  store.meta().read_ahead({.scope = step.run_path(), .task_lists = true, .metadata = true});
  auto tasks = store.meta().tasks(step);
  const TaskRecord* task = newest(tasks);
  if (!task) return std::nullopt;
  return environment_info_json(store, step.flow, task_metadata_dict(store, task->path));
}

void read_code_files(Store& store, const std::string& flow, const CodePackageRef& ref,
                     const std::function<bool(const std::string& path)>& wanted,
                     const std::function<void(const std::string& path, std::optional<std::string> content)>& visit) {
  const std::string bytes = package_bytes(store, flow, ref);
  TarReader tar(bytes, describe(flow, ref));
  while (auto file = tar.next_file()) {
    const auto& [name, size] = *file;
    if (!wanted(name)) continue;  // libarchive skips its data without handing it over
    std::optional<std::string> content;
    if (static_cast<size_t>(size) <= kMaxContentBytes) {
      content.emplace();
      content->reserve(static_cast<size_t>(size));
      tar.read_data([&](std::string_view block) {
        if (content && content->size() + block.size() <= kMaxContentBytes) content->append(block);
        else content.reset();  // a header that understated the size
      });
    }
    visit(name, std::move(content));
  }
}

}  // namespace mfsql::client
