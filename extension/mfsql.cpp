// The loadable module's entry point: `.load ./build/metaflow` in the sqlite3 shell, or
// conn.load_extension("build/metaflow") in Python.
#include <curl/curl.h>
#include <zlib.h>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/cache_file.hpp"
#include "decode/pickle.hpp"
#include "engine/vtab.hpp"
#include "session/interrupt.hpp"
#include "session/session.hpp"
#include "tables/specs.hpp"

SQLITE_EXTENSION_INIT1

namespace {

using namespace mfsql;

void version_function(sqlite3_context* ctx, int, sqlite3_value**) {
  std::string v = "mfsql " MFSQL_VERSION ", SQLite " + std::string(sqlite3_libversion()) + ", " +
                  curl_version() + ", zlib " + zlibVersion();
  sqlite3_result_text(ctx, v.c_str(), -1, SQLITE_TRANSIENT);
}

// The decoded JSON of `argv[0]`, or nullopt with the reason in `*why` when it does not decode.
std::optional<std::string> unpickle_argument(sqlite3_value* arg, std::string* why) {
  const void* data = sqlite3_value_blob(arg);
  std::string_view bytes(static_cast<const char*>(data), static_cast<size_t>(sqlite3_value_bytes(arg)));
  try {
    return unpickle_to_json(bytes).dump();
  } catch (const std::exception& e) {
    *why = e.what();
    return std::nullopt;
  }
}

// metaflow_unpickle(blob): the JSON of any pickle (protocols 0 to 5), or NULL when the bytes do
// not decode, as the artifacts' `value` column does, so one bad blob does not stop a scan.
void unpickle_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
  std::string why;
  std::optional<std::string> json = unpickle_argument(argv[0], &why);
  if (!json) return sqlite3_result_null(ctx);
  sqlite3_result_text64(ctx, json->data(), json->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  sqlite3_result_subtype(ctx, 'J');
}

// metaflow_unpickle_error(blob): why metaflow_unpickle(blob) is NULL; NULL when it decodes.
void unpickle_error_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
  std::string why;
  if (unpickle_argument(argv[0], &why)) return sqlite3_result_null(ctx);
  sqlite3_result_text64(ctx, why.data(), why.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void trace_clear_function(sqlite3_context* ctx, int, sqlite3_value**) {
  (*static_cast<std::shared_ptr<Session>*>(sqlite3_user_data(ctx)))->trace().clear();
  sqlite3_result_null(ctx);
}

// metaflow_set('max_value_bytes', N): a per-connection setting, read live by every store of the
// connection. Returns the value now in effect.
void set_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  Session& session = **static_cast<std::shared_ptr<Session>*>(sqlite3_user_data(ctx));
  const char* name = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  std::string setting = name ? name : "";
  if (setting == "cache") {  // 'on'/'off' (or 1/0): remember validated facts across statements
    std::string v = sqlite3_value_type(argv[1]) == SQLITE_INTEGER ? (sqlite3_value_int64(argv[1]) ? "on" : "off")
                    : sqlite3_value_text(argv[1]) ? reinterpret_cast<const char*>(sqlite3_value_text(argv[1])) : "";
    if (v != "on" && v != "off")
      return sqlite3_result_error(ctx, "metaflow_set: cache takes 'on' or 'off' (or 1 or 0).", -1);
    session.settings().cache = v == "on";
    return sqlite3_result_text(ctx, v.c_str(), -1, SQLITE_TRANSIENT);
  }
  size_t* target = nullptr;
  if (setting == "max_value_bytes") target = &session.settings().max_value_bytes;
  else if (setting == "value_cache_entries") target = &session.settings().value_cache_entries;
  if (!target) {
    std::string msg = "metaflow_set: there is no setting '" + setting + "'; the settings are max_value_bytes, value_cache_entries and cache.";
    return sqlite3_result_error(ctx, msg.c_str(), -1);
  }
  if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER || sqlite3_value_int64(argv[1]) < 0) {
    std::string msg = "metaflow_set: " + setting + " takes a whole number of 0 or more.";
    return sqlite3_result_error(ctx, msg.c_str(), -1);
  }
  *target = static_cast<size_t>(sqlite3_value_int64(argv[1]));
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(*target));
}

// metaflow_column_types(sql): the declared type of each result column of the statement `sql`
// (compiled on this connection, never run), as a JSON array: "JSON", "TEXT", ... for a column taken
// from a table, null for an expression. Clients that cannot ask SQLite for a column's declared type
// (Python's sqlite3 module) learn from it which result columns hold JSON.
void column_types_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const char* sql = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  if (!sql) return sqlite3_result_null(ctx);
  sqlite3* db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    std::string msg = std::string("metaflow_column_types: ") + sqlite3_errmsg(db);
    return sqlite3_result_error(ctx, msg.c_str(), -1);
  }
  std::string json = "[";
  const int n = stmt ? sqlite3_column_count(stmt) : 0;
  for (int i = 0; i < n; ++i) {
    const char* type = sqlite3_column_decltype(stmt, i);
    json += i ? "," : "";
    json += type ? nlohmann::json(type).dump() : "null";
  }
  sqlite3_finalize(stmt);
  json += "]";
  sqlite3_result_text64(ctx, json.data(), json.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  sqlite3_result_subtype(ctx, 'J');
}

}  // namespace

extern "C" int sqlite3_metaflow_init(sqlite3* db, char** err, const sqlite3_api_routines* api) {
  SQLITE_EXTENSION_INIT2(api);
  set_default_persistence(&CacheFile::process_default_persistence);  // needs the routine table just set
  // One Session per connection; every module holds a share and the last to go frees it.
  auto session = std::make_shared<Session>(interrupt_check(db));
  for (const engine::TableSpec* spec : tables::all_tables()) {
    engine::ModuleOptions options;
    options.allowed_args = Session::table_arguments();
    options.open_source = [session](const engine::ModuleArgs& args) {
      auto source = std::make_shared<TableSource>();
      source->session = session.get();
      source->args = args;
      source->keep_alive = session;
      return source;
    };
    options.cursor_started = [](TableSource& s) { s.session->memo().cursor_opened(); };
    options.cursor_stopped = [](TableSource& s) { s.session->memo().cursor_closed(); };
    if (int rc = engine::register_table(db, *spec, std::move(options)); rc != SQLITE_OK) {
      *err = sqlite3_mprintf("mfsql: could not register the table %s", spec->name);
      return rc;
    }
  }
  const int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "metaflow_version", 0, flags | SQLITE_DETERMINISTIC, nullptr,
                                   version_function, nullptr, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "metaflow_unpickle", 1, flags | SQLITE_DETERMINISTIC, nullptr,
                                 unpickle_function, nullptr, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "metaflow_column_types", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, nullptr,
                                 column_types_function, nullptr, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "metaflow_unpickle_error", 1, flags | SQLITE_DETERMINISTIC, nullptr,
                                 unpickle_error_function, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    auto* holder = new std::shared_ptr<Session>(session);
    rc = sqlite3_create_function_v2(db, "metaflow_trace_clear", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, holder,
                                    trace_clear_function, nullptr, nullptr,
                                    [](void* p) { delete static_cast<std::shared_ptr<Session>*>(p); });
    if (rc != SQLITE_OK) delete holder;
  }
  if (rc == SQLITE_OK) {
    auto* holder = new std::shared_ptr<Session>(session);
    rc = sqlite3_create_function_v2(db, "metaflow_set", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, holder, set_function,
                                    nullptr, nullptr, [](void* p) { delete static_cast<std::shared_ptr<Session>*>(p); });
    if (rc != SQLITE_OK) delete holder;
  }
  return rc;
}
