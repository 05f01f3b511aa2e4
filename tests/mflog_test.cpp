// The mflog parser and merge against what metaflow/mflog/mflog.py does with the same bytes.
#include <gtest/gtest.h>

#include "decode/mflog.hpp"

namespace mfsql::mflog {
namespace {

std::string line(const std::string& ts, const std::string& source, const std::string& msg) {
  return "[MFLOG|0|" + ts + "Z|" + source + "|3e3706d6-da89-46aa-935e-9f0d0ef05a40]" + msg + "\n";
}

// "".join(msg + "\n"), as Task.stdout builds it.
std::string text_of(const std::vector<Line>& lines) {
  std::string out;
  for (auto& l : lines) out += l.message + "\n";
  return out;
}

TEST(MflogTest, ParsesTheHeaderAndKeepsTheMessageWithoutItsNewline) {
  Line l = parse_line(line("2026-11-26T23:15:48.238297", "runtime", "hello | [x] stdout"));
  ASSERT_TRUE(l.parsed);
  EXPECT_EQ(l.timestamp, "2026-11-26T23:15:48.238297");
  EXPECT_EQ(l.iso, "2026-11-26 23:15:48.238");  // the column form, cut to milliseconds
  EXPECT_EQ(l.source, "runtime");
  EXPECT_EQ(l.id, "3e3706d6-da89-46aa-935e-9f0d0ef05a40");
  EXPECT_EQ(l.message, "hello | [x] stdout");
  EXPECT_FALSE(l.persist);
}

TEST(MflogTest, LastLineWithoutNewlineAndPersistMarker) {
  auto lines = parse("[![MFLOG|0|2026-11-26T23:15:48.1Z|task|id]Task failed.");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].parsed);
  EXPECT_TRUE(lines[0].persist);
  EXPECT_EQ(lines[0].message, "Task failed.");
  EXPECT_EQ(lines[0].iso, "2026-11-26 23:15:48.100");  // %f pads on the right
}

TEST(MflogTest, LazyGroupsEndAtTheFirstDelimiter) {
  // (.+?)Z\| then (.+?)\| then (.+?)\]: the id ends at the first ']' after a non-empty id.
  Line l = parse_line("[MFLOG|0|2026-01-02T03:04:05.6Z|a|b]]c|d]e\n");
  ASSERT_TRUE(l.parsed);
  EXPECT_EQ(l.source, "a");
  EXPECT_EQ(l.id, "b");
  EXPECT_EQ(l.message, "]c|d]e");
  // A timestamp with an earlier "Z|" is cut there, and then fails strptime: the line is unparsed.
  EXPECT_FALSE(parse_line("[MFLOG|0|2026Z|-01-02T03:04:05.6Z|a|b]m").parsed);
  // Empty groups cannot match; the next delimiter is tried.
  Line empty_source = parse_line("[MFLOG|0|2026-01-02T03:04:05.6Z||x|id]m");
  ASSERT_TRUE(empty_source.parsed);
  EXPECT_EQ(empty_source.source, "|x");
  EXPECT_FALSE(parse_line("[MFLOG|1|2026-01-02T03:04:05.6Z|a|b]m").parsed);  // version 0 only
  EXPECT_FALSE(parse_line(" [MFLOG|0|2026-01-02T03:04:05.6Z|a|b]m").parsed);  // re.match anchors
}

TEST(MflogTest, TimestampsFollowStrptime) {
  for (const char* ok : {"2026-11-26T23:15:48.238297", "2026-1-2T3:4:5.6", "2024-02-29T00:00:00.0",
                         "2026-11-26t23:15:48.1", "2026-11- 5T23:15:48.1", "0001-01-01T00:00:00.000000"})
    EXPECT_TRUE(valid_timestamp(ok)) << ok;
  for (const char* bad : {"2026-11-26T23:15:48", "2026-11-26T23:15:48.1234567", "2026-02-29T00:00:00.0",
                          "2026-11-31T00:00:00.0", "2026-13-01T00:00:00.0", "2026-00-01T00:00:00.0",
                          "0000-01-01T00:00:00.0", "2026-11-26T24:00:00.0", "2026-11-26T23:60:00.0",
                          "2026-11-26T23:15:60.0", "2026-11-26T23:15:61.0", "2026-11-26 23:15:48.1",
                          "26-11-26T23:15:48.1", "2026-011-26T23:15:48.1", "2026-11-26T23:15:48.1 ", ""})
    EXPECT_FALSE(valid_timestamp(bad)) << bad;
  std::string iso;
  ASSERT_TRUE(valid_timestamp("2026-1-2T3:4:5.6", &iso));
  EXPECT_EQ(iso, "2026-01-02 03:04:05.600");
}

TEST(MflogTest, UnparsableLinesKeepTheirBytesAndComeLastSortedByBytes) {
  std::string blob = "zeta raw\n" + line("2026-01-01T00:00:02.0", "runtime", "second") + "\n" +
                     line("2026-01-01T00:00:01.0", "runtime", "first") + "alpha raw";
  auto lines = parse(blob);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_TRUE(lines[0].parsed && lines[1].parsed);
  EXPECT_EQ(lines[2].message, "zeta raw\n");  // line_iter: file order, unparsed after parsed
  EXPECT_EQ(lines[3].message, "\n");
  EXPECT_EQ(lines[4].message, "alpha raw");
  EXPECT_EQ(lines[2].timestamp, kMissingTimestamp);
  auto merged = merge({lines});
  EXPECT_EQ(text_of(merged), "first\nsecond\n\n\nalpha raw\nzeta raw\n\n");
}

TEST(MflogTest, MergeInterleavesByTimestampTextAndTakesRuntimeFirstOnTies) {
  auto runtime = parse(line("2026-01-01T00:00:01.000000", "runtime", "r1") + line("2026-01-01T00:00:03.000000", "runtime", "r3"));
  auto task = parse(line("2026-01-01T00:00:02.000000", "task", "t2") + line("2026-01-01T00:00:03.000000", "runtime", "r3"));
  auto merged = merge({runtime, task});
  EXPECT_EQ(text_of(merged), "r1\nt2\nr3\nr3\n");
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[2].blob, 0);
  EXPECT_EQ(merged[3].blob, 1);
  // The order is the text's, not the instant's: ".5" sorts after ".10".
  auto text_order = merge({parse(line("2026-01-01T00:00:00.5", "a", "half") + line("2026-01-01T00:00:00.10", "a", "tenth"))});
  EXPECT_EQ(text_of(text_order), "tenth\nhalf\n");
  // Equal timestamps order by the rest of the header, then the message, as Python's tuples do.
  auto ties = merge({parse("[MFLOG|0|2026-01-01T00:00:00.0Z|b|1]x\n[MFLOG|0|2026-01-01T00:00:00.0Z|a|2]y\n")});
  EXPECT_EQ(text_of(ties), "y\nx\n");
  EXPECT_TRUE(merge({parse(""), parse("")}).empty());
}

TEST(MflogTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(valid_utf8("plain \xC3\xBC \xE2\x9C\x93 \xF0\x9F\x98\x80"), "plain \xC3\xBC \xE2\x9C\x93 \xF0\x9F\x98\x80");
  EXPECT_EQ(valid_utf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");       // overlong
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(valid_utf8("\xE2\x9C"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // truncated
}

}  // namespace
}  // namespace mfsql::mflog
