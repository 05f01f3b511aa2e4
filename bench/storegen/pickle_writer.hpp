#pragma once
// Protocol-4 pickles, byte for byte as CPython 3.11's C pickler (`pickle.dumps(v, 4)`) writes
// them, which is what Metaflow's PickleSerializer stores. The parts that decide the bytes:
//  * FRAME around everything after PROTO, dropped when the frame holds < 4 bytes, committed at
//    the start of a save once it holds >= 64 KiB, and suspended around str/bytes payloads
//    >= 64 KiB (those are written unframed);
//  * MEMOIZE after every str, bytes, non-empty tuple, list, dict, global and built object; a
//    second reference to the same object becomes BINGET/LONG_BINGET;
//  * lists: one item -> APPEND, more -> MARK ... APPENDS in batches of 1000;
//    dicts: one item -> SETITEM, more -> MARK ... SETITEMS in batches of 1000, with an empty
//    trailing batch when the size is a multiple of 1000 (CPython's loop condition);
//  * ints: BININT1/BININT2 for 0..65535, BININT for other int32, else LONG1 (minimal two's
//    complement).
#include <string>

#include "storegen/py_value.hpp"

namespace mfsql::storegen {

std::string pickle_dumps(const PyValue& value);

}  // namespace mfsql::storegen
