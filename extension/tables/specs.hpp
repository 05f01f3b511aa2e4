#pragma once
// Every table mfsql registers. Each is defined in its own file in this folder.
#include "engine/table.hpp"

namespace mfsql::tables {

extern const engine::TableSpec kFlowsTable;
extern const engine::TableSpec kRunsTable;
extern const engine::TableSpec kStepsTable;
extern const engine::TableSpec kTasksTable;
extern const engine::TableSpec kTagsTable;
extern const engine::TableSpec kArtifactsTable;
extern const engine::TableSpec kMetadataTable;
extern const engine::TableSpec kLogsTable;
extern const engine::TableSpec kConfigTable;
extern const engine::TableSpec kTraceTable;
extern const engine::TableSpec kTablesTable;
extern const engine::TableSpec kColumnsTable;

}  // namespace mfsql::tables
