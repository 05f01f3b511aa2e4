#pragma once
// pandas 1.x's pickle forms, shared by the DataFrame/Series renderer (pickle_pandas.cpp) and the
// readers of column values and indexes (pickle_pandas_values.cpp).
#include "decode/pickle_numpy.hpp"

namespace mfsql::pickle {

// The value under `key` of a dict node with str keys, or nullptr.
const Node* dict_get(const Node* dict, std::string_view key);

// The cells of a block's or a Series' values, rendered: a numpy array (1-D, or 2-D with one row
// per column), a DatetimeArray/TimedeltaArray (naive or with a fixed-offset zone), a Categorical,
// a masked array (Int64, UInt8, Float64, boolean: a masked cell is pd.NA) or a StringArray.
struct PandasValues {
  std::string dtype;         // str(dtype): "int64", "datetime64[ns, UTC]", "category", "Int64", ...
  size_t columns = 1;        // a 2-D block holds several columns of `rows` cells each
  size_t rows = 0;
  std::vector<Json> cells;   // column after column: cells[column * rows + row]
};
std::optional<PandasValues> pandas_values(Renderer& renderer, const Node* values, size_t depth, TimeStyle style);

// An Index's labels: RangeIndex, Index (Int64Index, Float64Index, ...), DatetimeIndex,
// TimedeltaIndex, CategoricalIndex, MultiIndex (each label the tuple of its levels' labels).
struct PandasIndex {
  std::vector<Json> labels;
  std::string dtype;
  Json name;
};
std::optional<PandasIndex> pandas_index(Renderer& renderer, const Node* index, size_t depth, TimeStyle style);

// A tzinfo's fixed UTC offset in seconds (UTC, datetime.timezone), nullopt when it needs a time
// zone database; `name` gets str(tz) as pandas shows it in a dtype.
std::optional<int64_t> tz_offset_seconds(const Node* tz, std::string* name = nullptr);

}  // namespace mfsql::pickle
