// The pickle decoder on hostile input: always an UnpickleError that says what and where, never a
// crash, whatever the truncation or mutation.
#include <gtest/gtest.h>

#include <iostream>

#include "decode/pickle.hpp"
#include "support/pickle_cases.hpp"
#include "support/test_env.hpp"

using mfsql::UnpickleError;
using mfsql::test::bytes;
using mfsql::test::from_hex;
using mfsql::test::Case;
using mfsql::test::kCases;

// ---- hostile input: always an UnpickleError that says what and where, never a crash ----
namespace {
std::string error_of(std::string_view pickle, const mfsql::UnpickleLimits& limits = {}) {
  try {
    mfsql::unpickle_to_json(pickle, limits);
  } catch (const UnpickleError& e) {
    return e.what();
  }
  return "(no error)";
}
// Checks that the error text contains `fragment`, showing the whole message when it does not.
#define EXPECT_ERROR(message, fragment)                                              \
  do {                                                                               \
    std::string text_ = (message);                                                   \
    EXPECT_NE(text_.find(fragment), std::string::npos) << text_ << " lacks " << (fragment); \
  } while (0)
}  // namespace

TEST(PickleErrors, MalformedInputSaysWhatAndWhere) {
  EXPECT_ERROR(error_of(""), "empty");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 0xff, '.'})), "unknown opcode 0xff (at byte offset 2)");
  EXPECT_ERROR(error_of(bytes({0x80, 6, 'N', '.'})), "protocol 6 pickle; only 0 to 5 are supported");
  // Protocol 5's out-of-band buffers live outside the pickle's bytes.
  EXPECT_ERROR(error_of(bytes({0x80, 5, 0x97, 0x98, '.'})), "out-of-band buffer (protocol 5 NEXT_BUFFER)");
  EXPECT_ERROR(error_of(bytes({0x80, 5, 'N', 0x98, '.'})), "READONLY_BUFFER needs a buffer");
  // Text opcodes with bad arguments.
  EXPECT_ERROR(error_of("I1x\n."), "INT has an argument that is not a whole number (at byte offset 0)");
  EXPECT_ERROR(error_of("I12"), "the argument of INT is not terminated by a newline");
  EXPECT_ERROR(error_of("L" + std::string(5000, '9') + "L\n."), "LONG has an argument that is not a whole number");
  EXPECT_ERROR(error_of("Fx\n."), "FLOAT has an argument that is not a number");
  EXPECT_ERROR(error_of("S'abc\n."), "must be quoted");
  EXPECT_ERROR(error_of("S'a\\x4'\n."), "invalid \\x escape");
  EXPECT_ERROR(error_of("Vx\\u12\n."), "truncated \\uXXXX escape");
  EXPECT_ERROR(error_of("V\\U00110000\n."), "beyond U+10FFFF");
  EXPECT_ERROR(error_of("g7\n."), "memo index 7 is read but was never stored");
  EXPECT_ERROR(error_of("Np-1\n."), "PUT needs a memo index");
  EXPECT_ERROR(error_of("(o."), "OBJ found no class");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 0x82, 1, '.'})), "EXT1");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', 'Q', '.'})), "persistent id");
  EXPECT_ERROR(error_of(bytes({0x80, 4, '.'})), "STOP found an empty stack");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', 'a', '.'})), "APPEND found no object");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', 'u', '.'})), "no MARK");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', 'N', 'a', '.'})), "not a list");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N'})), "ends early");
  // Huge lengths are checked against what remains before anything is allocated.
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'X', 0xff, 0xff, 0xff, 0x7f, 'a'})), "BINUNICODE claims 2147483647 bytes");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x80})), "BINBYTES8 claims");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 0x8b, 0xff, 0xff, 0xff, 0xff})), "LONG4 has a negative length");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 0x95, 0xff, 0, 0, 0, 0, 0, 0, 0, 'N', '.'})), "FRAME");
  // Memo indices out of range.
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'h', 5, '.'})), "memo index 5 is read but was never stored (at byte offset 2)");
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', 'r', 0xff, 0xff, 0xff, 0xff, '.'})), "exceeds the limit");
  mfsql::UnpickleLimits tiny;
  tiny.max_bytes = 3;
  EXPECT_ERROR(error_of(bytes({0x80, 4, 'N', '.'}), tiny), "more than the limit of 3");
}

TEST(PickleErrors, DeepNestingIsRefused) {
  // 100000 nested lists: ]]]]...aaaa. The machine is iterative; the renderer stops at max_depth.
  std::string deep = bytes({0x80, 4}) + std::string(100000, ']') + std::string(99999, 'a') + ".";
  EXPECT_ERROR(error_of(deep), "nest deeper than 256 levels");
  std::string fine = bytes({0x80, 4}) + std::string(200, ']') + std::string(199, 'a') + ".";
  EXPECT_EQ(error_of(fine), "(no error)");
}

TEST(PickleErrors, SharedReferencesCannotExplode) {
  // memo[i] = (memo[i-1], memo[i-1]): 60 levels would render 2^60 values.
  std::string p = bytes({0x80, 4, ']', 0x94});
  for (int i = 1; i <= 60; ++i) p += bytes({'h', i - 1, 'h', i - 1, 0x86, 0x94});
  p += ".";
  mfsql::UnpickleLimits limits;
  limits.max_rendered = 1 << 20;  // the default (16M) is reached too, only more slowly
  EXPECT_ERROR(error_of(p, limits), "grows past 1048576 JSON values");
}

TEST(PickleErrors, TruncationsAndMutationsNeverCrash) {
  // Every prefix and many byte flips of every generated case: decoded or refused, nothing else.
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  size_t refused = 0, decoded = 0;
  for (const Case& c : kCases) {
    std::string pickle = from_hex(c.hex);
    if (pickle.size() > 2000) continue;
    std::vector<std::string> variants;
    for (size_t n = 0; n < pickle.size(); ++n) variants.push_back(pickle.substr(0, n));
    for (int m = 0; m < 200; ++m) {
      std::string mutated = pickle;
      for (int k = 0; k < 3; ++k) mutated[next() % mutated.size()] = static_cast<char>(next() >> 16);
      variants.push_back(mutated);
    }
    mfsql::UnpickleLimits limits;
    limits.max_rendered = 1 << 16;  // mutated memo references can make exponential trees
    for (const std::string& v : variants) {
      try {
        mfsql::unpickle_to_json(v, limits);
        ++decoded;
      } catch (const mfsql::CorruptRecord&) {
        ++refused;
      }
    }
  }
  std::cout << "[pickle hostile] " << decoded << " variants decoded, " << refused << " refused" << std::endl;
  EXPECT_GT(refused, 1000u);
}
