#pragma once
// A small model of the Python values Metaflow pickles, just rich enough to write artifacts the way
// CPython 3.11 does. Object identity matters to pickle (the memo turns a second reference to the
// same object into BINGET), so the model makes it explicit:
//  * containers are shared by pointer: put the same PyRef in two places to get one object twice;
//  * strings are treated as interned: equal strings are one object, as literals and identifiers
//    are in CPython (what real Metaflow blobs show, e.g. `_graph_info` reusing 'start').
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mfsql::storegen {

struct PyValue;
using PyRef = std::shared_ptr<const PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, List, Tuple, Dict, Global, NewObj, Reduce };

  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;         // Str/Bytes payload; Global: module
  std::string name;         // Global: qualified name
  std::vector<PyRef> items; // List/Tuple elements; Dict: key, value, key, value, ...
                            // NewObj: class, args tuple; Reduce: callable, args tuple[, state]
};

// Constructors, named after the Python spelling of the value.
PyRef py_none();
PyRef py_bool(bool v);
PyRef py_int(int64_t v);
PyRef py_float(double v);
PyRef py_str(std::string v);
PyRef py_bytes(std::string v);
PyRef py_list(std::vector<PyRef> items);
PyRef py_tuple(std::vector<PyRef> items);
PyRef py_dict(std::vector<std::pair<std::string, PyRef>> items);  // str keys, in insertion order
PyRef py_dict_any(std::vector<std::pair<PyRef, PyRef>> items);
PyRef py_global(std::string module, std::string qualname);
// `cls(*args)` built through cls.__new__, as a namedtuple pickles (NEWOBJ).
PyRef py_newobj(PyRef cls, PyRef args_tuple);
// `callable(*args)` followed by `obj.__setstate__(state)` when state is given (REDUCE + BUILD).
PyRef py_reduce(PyRef callable, PyRef args_tuple, PyRef state = nullptr);

std::vector<PyRef> py_str_list(const std::vector<std::string>& items);

// str(type(value)) as Metaflow records it in data.json, e.g. "<class 'int'>". Objects report the
// class they were built from, so an exception wrapper says which wrapper it is.
std::string python_type_repr(const PyValue& value);

}  // namespace mfsql::storegen
