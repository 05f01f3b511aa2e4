// metaflow_config and metaflow_trace: what this connection is set to, and what its queries cost.
#include "tables/specs.hpp"
#include "session/session.hpp"

namespace mfsql::tables {
namespace {

using engine::Type;
using engine::Value;
using enum engine::ColumnFlag;

const engine::Column kConfigColumns[] = {
    {"name", Type::Text, kPlain, 0, "The Metaflow variable"},
    {"value", Type::Text, kPlain, 0, "Its effective value (*** for secrets)"},
    {"origin", Type::Text, kPlain, 0, "module argument, environment, project config, profile, default or unset"},
};

engine::Generator<engine::Row> config_rows(TableSource& source, const engine::Plan&) {
  for (auto& setting : source.session->config(source.args).all()) {
    Value value = setting.value.empty() ? Value::null() : Value::of(setting.shown());
    engine::Row row{Value::of(setting.name), value, Value::of(setting.origin)};
    co_yield std::move(row);  // a braced list straight in co_yield trips GCC 12
  }
}

const engine::Column kTraceColumns[] = {
    {"seq", Type::Integer, kPlain, 0, "Order of the call in this connection"},
    {"kind", Type::Text, kPlain, 0, "file, dir, stat (a file size, no read), check (a stat validating what the cache remembers), link (a symlink mfsql did not follow), http or s3"},
    {"target", Type::Text, kPlain, 0, "Path within the store, or URL without secrets"},
    {"status", Type::Integer, kPlain, 0, "0 or HTTP status; -1 when the file or folder could not be read (see error)"},
    {"ms", Type::Real, kPlain, 0, "Milliseconds the call took"},
    {"bytes", Type::Integer, kPlain, 0, "Bytes read (entries, for a directory)"},
    {"cache_hit", Type::Integer, kPlain, 0, "1 when answered from a cache (for a check: what was remembered is still valid and used)"},
    {"error", Type::Text, kPlain, 0, "Why the call failed (missing, permission denied, symlink not followed, ...), else NULL"},
};

engine::Generator<engine::Row> trace_rows(TableSource& source, const engine::Plan&) {
  for (auto& e : source.session->trace().snapshot())
  {
    engine::Row row{Value::of(e.seq), Value::of(e.kind), Value::of(e.target), Value::of(int64_t{e.status}),
                    Value::of(e.ms), Value::of(e.bytes), Value::boolean(e.cache_hit),
                    e.error.empty() ? Value::null() : Value::of(e.error)};
    co_yield std::move(row);
  }
}

}  // namespace

const engine::TableSpec kConfigTable = {
    .name = "metaflow_config",
    .doc = "The effective Metaflow settings of this connection and where each came from.",
    .columns = kConfigColumns,
    .scan_rows = 20,
    .rows = config_rows,
    .example = "SELECT * FROM metaflow_config;",
};

const engine::TableSpec kTraceTable = {
    .name = "metaflow_trace",
    .doc = "The recent provider calls of this connection (file reads, HTTP requests) and their cost.",
    .columns = kTraceColumns,
    .scan_rows = 1000,
    .rows = trace_rows,
    .direct_only = false,
    .example = "SELECT count(*) FROM tasks WHERE flow = 'HelloFlow'; SELECT kind, count(*), sum(bytes) FROM metaflow_trace GROUP BY kind;",
};

}  // namespace mfsql::tables
