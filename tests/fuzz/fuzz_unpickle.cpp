// libFuzzer target for the pickle decoder: any input must either decode or raise UnpickleError
// (a CorruptRecord); a crash, a sanitizer report, a hang or another exception type is a bug.
//
// Build and run: bash scripts/fuzz.sh (tests/fuzz/README.md). By hand, from the repository root:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I extension \
//     tests/fuzz/fuzz_unpickle.cpp extension/decode/*.cpp extension/util/sha1.cpp \
//     -o build-fuzz-unpickle
//   mkdir -p fuzz-corpus && ./build-fuzz-unpickle -max_len=4096 -timeout=10 -rss_limit_mb=4096 fuzz-corpus
// Good seeds are the uncompressed fixture blobs: for f in <store>/*/data/*/*[0-9a-f]; do
//   gzip -dc < "$f" > fuzz-corpus/$(basename "$f"); done   (skip the *_meta sidecars)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "decode/pickle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits keep each run fast: the fuzzer looks for crashes, not for big values.
  mfsql::UnpickleLimits limits;
  limits.max_objects = 1 << 16;
  limits.max_rendered = 1 << 16;
  limits.max_memo = 1 << 16;
  try {
    nlohmann::ordered_json value =
        mfsql::unpickle_to_json(std::string_view(reinterpret_cast<const char*>(data), size), limits);
    (void)mfsql::python_json_dumps(value, true);
    (void)value.dump();  // throws on invalid UTF-8: the renderer must never produce any
  } catch (const mfsql::UnpickleError&) {
  } catch (const mfsql::CorruptRecord&) {
  }
  return 0;
}
