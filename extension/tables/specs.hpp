#pragma once
// Every table mfsql registers. Each is defined in its own file in this folder; kAllTables is the
// one registry that mfsql.cpp registers and metaflow_tables / metaflow_columns document.
#include <span>

#include "engine/table.hpp"

namespace mfsql::tables {

extern const engine::TableSpec kFlowsTable;
extern const engine::TableSpec kRunsTable;
extern const engine::TableSpec kStepsTable;
extern const engine::TableSpec kTasksTable;
extern const engine::TableSpec kTaskAttemptsTable;
extern const engine::TableSpec kTagsTable;
extern const engine::TableSpec kArtifactsTable;
extern const engine::TableSpec kMetadataTable;
extern const engine::TableSpec kLogsTable;
extern const engine::TableSpec kTaskEdgesTable;
extern const engine::TableSpec kCodeFilesTable;
extern const engine::TableSpec kConfigTable;
extern const engine::TableSpec kTraceTable;
extern const engine::TableSpec kTablesTable;
extern const engine::TableSpec kColumnsTable;

// In the order a newcomer would read about them (metaflow_tables lists them so).
std::span<const engine::TableSpec* const> all_tables();

}  // namespace mfsql::tables
