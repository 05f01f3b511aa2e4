#pragma once
// Every table mfsql registers. Each is defined in its own file in this folder.
#include "engine/table.hpp"

namespace mfsql::tables {

extern const engine::TableSpec kFlowsTable;
extern const engine::TableSpec kRunsTable;
extern const engine::TableSpec kStepsTable;
extern const engine::TableSpec kTasksTable;
extern const engine::TableSpec kTagsTable;
extern const engine::TableSpec kConfigTable;
extern const engine::TableSpec kTraceTable;

}  // namespace mfsql::tables
