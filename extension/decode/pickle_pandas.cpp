#include "decode/pickle_render.hpp"

namespace mfsql::pickle {

std::optional<Json> render_pandas_call(Renderer&, Node*, size_t) { return std::nullopt; }

}  // namespace mfsql::pickle
