#pragma once
// numpy's pickle forms (numpy/core/src/multiarray/methods.c array_reduce / array_reduce_ex,
// descriptor.c arraydescr_reduce), shared by the ndarray renderer and the pandas one, whose
// blocks are ndarrays.
#include "decode/pickle_render.hpp"

namespace mfsql::pickle {

struct NumpyField;

struct NumpyDtype {
  char kind = 0;           // numpy's kind letter: b i u f c O U S V M m
  size_t itemsize = 0;     // bytes per element (8 for object pointers, ignored)
  bool big_endian = false;
  std::string name;        // str(dtype): "int64", "object", "<U5", "datetime64[ns]", "[('a', '<i4')]", ...
  std::string short_name;  // as a field of a structured dtype shows it: "<i8", "i1", "?", "S3", "<M8[ns]"
  std::string unit;        // M and m: "ns", "D", ... ("generic" when it has none)
  int64_t unit_count = 1;  // M and m: the 10 of datetime64[10ms]
  std::vector<NumpyField> fields;  // V with names: the structured dtype's fields in order
  size_t leaves = 1;               // scalar values in one element (fields of fields counted)
};

struct NumpyField {
  std::string name;
  NumpyDtype dtype;
  size_t offset = 0;
};

struct NumpyArray {
  NumpyDtype dtype;
  std::vector<size_t> shape;
  bool fortran = false;                       // raw bytes are in column-major order
  std::string raw;                              // numeric and string dtypes
  const std::vector<Node*>* objects = nullptr;  // object dtype: the items in C order
  size_t size() const;
};

// numpy.dtype(descr, align, copy) + BUILD state, or nullopt for a dtype we cannot decode.
std::optional<NumpyDtype> numpy_dtype(const Node* node);
// The dtype named as numpy names it after rebuilding an array from a protocol < 5 pickle, which
// swaps big-endian data to native order (the bytes kept here stay as pickled).
NumpyDtype native_order(const NumpyDtype& dtype);
// _reconstruct(ndarray, (0,), b'b') + BUILD (version, shape, dtype, is_fortran, data), or
// protocol 5's _frombuffer(buffer, dtype, shape, order).
std::optional<NumpyArray> numpy_array(const Node* node);

// How datetime64/timedelta64 elements render: as ndarray.tolist() gives them (numpy's rules:
// datetime.date/datetime/timedelta or a plain int by unit, None for NaT), or as the pandas
// Timestamp/Timedelta that a DataFrame cell holds (NaT as "NaT", as the oracle shows it), or
// as tables.md's Series/Index cells (NaT as null).
enum class TimeStyle { Numpy, PandasCell, PandasLabel };

// Element `index` in C (row-major) order, rendered as its .item() would be.
Json numpy_element(Renderer& renderer, const NumpyArray& array, size_t index, size_t depth,
                   TimeStyle style = TimeStyle::Numpy);
// The int64 behind element `index` of an integer, datetime64 or timedelta64 array.
int64_t numpy_int64(const NumpyArray& array, size_t index);

// ---- time values (pickle_datetime.cpp) ----
constexpr int64_t kNaT = INT64_MIN;
// Timestamp(ns since the epoch, UTC).isoformat() with `offset_seconds` added and shown as
// +HH:MM (when `with_offset`): "2024-02-29T13:45:30.123456789+05:30".
std::string timestamp_iso(int64_t ns, bool with_offset = false, int64_t offset_seconds = 0);
// Timedelta(ns).total_seconds() as pandas computes it: days*86400 + seconds + microseconds/1e6.
double pandas_total_seconds(int64_t ns);
// datetime64/timedelta64 `value` in `dtype`'s unit as ndarray.tolist() gives it.
Json numpy_time_value(const NumpyDtype& dtype, int64_t value);

}  // namespace mfsql::pickle
