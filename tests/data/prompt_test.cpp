#include "bipeft/data/prompt.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

TEST(DataPrompt, StsbPaperTargetRoundsToOneDecimalWithTiesToEven) {
  EXPECT_EQ(stsb_paper_target(5.0f), "5.0");
  EXPECT_EQ(stsb_paper_target(3.8f), "3.8");
  EXPECT_EQ(stsb_paper_target(0.0f), "0.0");
  EXPECT_EQ(stsb_paper_target(4.75f), "4.8");  // 47.5 -> 48 (even)
  EXPECT_EQ(stsb_paper_target(0.25f), "0.2");  // 2.5 -> 2 (even)
  EXPECT_EQ(stsb_paper_target(2.333f), "2.3");
  EXPECT_EQ(stsb_paper_target(1.667f), "1.7");
}

TEST(DataPrompt, StsbT5TargetRoundsToTheFifthGrid) {
  EXPECT_EQ(stsb_t5_target(3.8f), "3.8");
  EXPECT_EQ(stsb_t5_target(3.7f), "3.6");   // 3.7f * 5 is 18.5 in float32 -> 18 (even)
  EXPECT_EQ(stsb_t5_target(3.5f), "3.6");   // 17.5 -> 18 (even)
  EXPECT_EQ(stsb_t5_target(2.333f), "2.4");
  EXPECT_EQ(stsb_t5_target(0.0f), "0.0");
}

TEST(DataPrompt, MultircMarkupIsRemoved) {
  EXPECT_EQ(remove_multirc_markup("<b>Sent 1: </b>Hi.<br><b>Sent 2: </b>Bye.<br>"), "Sent 1: Hi. Sent 2: Bye. ");
  EXPECT_EQ(remove_multirc_markup("plain"), "plain");
}

TEST(DataPrompt, RecordHighlightsJoinAfterPunctuationOrWithAPeriod) {
  EXPECT_EQ(record_passage("A b.\n@highlight\nC d\n@highlight\nE f"), "A b. C d. E f");
  EXPECT_EQ(record_passage("Q?\n@highlight\n\"X\"\n@highlight\nY"), "Q? \"X\" Y");
  EXPECT_EQ(record_passage("no markers"), "no markers");
  EXPECT_EQ(record_passage("\n@highlight\nStart"), ". Start");
}

TEST(DataPrompt, Utf8SliceCountsCodePoints) {
  const std::string text = "Zo\xC3\xAB Ball and BBC";  // "Zoë Ball and BBC"
  EXPECT_EQ(utf8_slice(text, 0, 8, "x"), "Zo\xC3\xAB Ball");
  EXPECT_EQ(utf8_slice(text, 13, 16, "x"), "BBC");
  EXPECT_THROW_WITH(utf8_slice(text, 10, 40, "val.jsonl line 3"), FormatError, "val.jsonl line 3");
}

TEST(DataPrompt, WscMarksTheSpanAtTheGivenWord) {
  const std::string t = "Mark told Pete many lies. He lied.";
  EXPECT_EQ(wsc_mark_span(t, "Mark", 0, '*'), "* Mark * told Pete many lies. He lied.");
  EXPECT_EQ(wsc_mark_span(t, "He", 5, '#'), "Mark told Pete many lies. # He # lied.");
  EXPECT_EQ(wsc_mark_span(t, "He", 4, '#'), t);  // not at that word: unchanged
  EXPECT_EQ(wsc_mark_span(t, "Pete many", 2, '*'), "Mark told * Pete many * lies. He lied.");
}

TEST(DataPrompt, WscFixMatchesCaseAndStripsPeriods) {
  const std::string t = "The city councilmen refused the permit.";
  EXPECT_EQ(wsc_fix_span(t, "the city councilmen.", 0), "The city councilmen");
  EXPECT_EQ(wsc_fix_span(t, "The permit", 4), "the permit");
  EXPECT_EQ(wsc_fix_span(t, "city", 1), "city");  // already a substring
}

TEST(DataPrompt, NumbersRoundTripAndRejectGarbage) {
  EXPECT_EQ(number_text(3.8), "3.8");
  EXPECT_EQ(number_text(5.0), "5");
  EXPECT_EQ(number_text(-0.25), "-0.25");
  double v = 0;
  EXPECT_TRUE(parse_number(" 4.750 ", v));
  EXPECT_DOUBLE_EQ(v, 4.75);
  EXPECT_FALSE(parse_number("4.7x", v));
  EXPECT_FALSE(parse_number("", v));
  EXPECT_FALSE(parse_number("nan", v));
  EXPECT_FALSE(parse_number("0x10", v));
}

}  // namespace
}  // namespace bipeft::data
