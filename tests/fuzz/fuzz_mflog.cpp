// libFuzzer target for the mflog parser and merge: any bytes must parse into lines whose text
// rebuilds the input, and merging must keep every line; a crash, a sanitizer report, a hang or an
// exception is a bug.
//
// Build and run: bash scripts/fuzz.sh (tests/fuzz/README.md). By hand, from the repository root:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I extension \
//     tests/fuzz/fuzz_mflog.cpp extension/decode/mflog.cpp -o build-fuzz-mflog
//   mkdir -p fuzz-corpus-mflog && ./build-fuzz-mflog -max_len=4096 -timeout=10 fuzz-corpus-mflog
// Good seeds are real logs: cp <store>/*/*/*/*/*.log fuzz-corpus-mflog/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "decode/mflog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The input is two log files, split at the first NUL, so merge sees interleavings too.
  size_t split = input.find('\0');
  std::string_view first = input.substr(0, split);
  std::string_view second = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  auto a = mfsql::mflog::parse(first);
  auto b = mfsql::mflog::parse(second);
  // Every byte of a file lands in exactly one line: header + message (+ '\n') or the raw line.
  size_t bytes = 0;
  for (auto& l : a) {
    if (l.parsed && l.iso.size() != 23) std::abort();  // "YYYY-MM-DD HH:MM:SS.SSS"
    bytes += l.parsed ? 0 : l.message.size();
  }
  if (bytes > first.size()) std::abort();
  const size_t lines = a.size() + b.size();
  auto merged = mfsql::mflog::merge({std::move(a), std::move(b)});
  if (merged.size() != lines) std::abort();
  for (size_t i = 1; i < merged.size(); ++i)
    if (merged[i].timestamp < merged[i - 1].timestamp) std::abort();
  std::string text = mfsql::mflog::valid_utf8(input);
  (void)text;
  return 0;
}
