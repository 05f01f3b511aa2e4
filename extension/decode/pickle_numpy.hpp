#pragma once
// numpy's pickle forms (numpy/core/src/multiarray/methods.c array_reduce / arraydescr_reduce),
// shared by the ndarray renderer and the pandas one, whose blocks are ndarrays.
#include "decode/pickle_render.hpp"

namespace mfsql::pickle {

struct NumpyDtype {
  char kind = 0;           // numpy's kind letter: b i u f c O U S
  size_t itemsize = 0;     // bytes per element (8 for object pointers, ignored)
  bool big_endian = false;
  std::string name;        // str(dtype): "int64", "object", "<U5", ...
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
// _reconstruct(ndarray, (0,), b'b') + BUILD (version, shape, dtype, is_fortran, data).
std::optional<NumpyArray> numpy_array(const Node* node);
// Element `index` in C (row-major) order, rendered as its .item() would be.
Json numpy_element(Renderer& renderer, const NumpyArray& array, size_t index, size_t depth);

}  // namespace mfsql::pickle
