#pragma once
// Every SQLite call in the module goes through the routine table handed to sqlite3_metaflow_init,
// as loadable extensions must; only mfsql.cpp defines it (SQLITE_EXTENSION_INIT1).
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
