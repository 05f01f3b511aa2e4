#pragma once
// JSON text exactly as Python's `json.dumps(obj)` writes it with default settings, which is how
// Metaflow writes every JSON file of a local store: ", " and ": " separators, ensure_ascii
// (non-ASCII as lowercase \uXXXX, surrogate pairs above U+FFFF), floats as repr(float).
// Built by appending, in the key order Metaflow uses, so no map reorders keys.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mfsql::storegen {

// repr(float) for finite values: shortest round-trip digits; exponent form below 1e-4 and from
// 1e16 up; integral values keep ".0".
std::string python_float_repr(double value);

// A JSON string literal, Python-escaped.
std::string py_json_string(std::string_view utf8);
std::string py_json_string_list(const std::vector<std::string>& items);

class PyJsonObject {
 public:
  PyJsonObject() { text_.reserve(256); text_.push_back('{'); }

  PyJsonObject& str(std::string_view key, std::string_view value);
  PyJsonObject& integer(std::string_view key, int64_t value);
  PyJsonObject& real(std::string_view key, double value);
  PyJsonObject& boolean(std::string_view key, bool value);
  PyJsonObject& null(std::string_view key);
  PyJsonObject& str_list(std::string_view key, const std::vector<std::string>& values);
  PyJsonObject& raw(std::string_view key, std::string_view json);  // an already-encoded value

  std::string finish();  // closes the object; the builder is spent

 private:
  void key(std::string_view name);
  std::string text_;
  bool empty_ = true;
};

}  // namespace mfsql::storegen
