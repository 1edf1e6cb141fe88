// SuperGLUE readers: RTE on the real files, the other tasks on hand-written samples in the official
// JSONL schema (tests/fixtures/superglue-samples).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

std::string sample(const std::string& task) { return test::data_path("fixtures/superglue-samples/" + task); }

TaskOptions paper() { return TaskOptions{}; }
TaskOptions t5() {
  TaskOptions o;
  o.format = PromptFormat::T5;
  return o;
}

std::vector<Example> all_of(const TaskData& d) {
  std::vector<Example> out = d.train;
  out.insert(out.end(), d.dev.begin(), d.dev.end());
  out.insert(out.end(), d.test.begin(), d.test.end());
  return out;
}

const Example* find_source(const std::vector<Example>& v, const std::string& needle) {
  for (const auto& e : v)
    if (e.source.find(needle) != std::string::npos) return &e;
  return nullptr;
}

TEST(DataSuperGlue, RteRowCountsMatchTheOfficialFiles) {
  auto d = load_task("superglue-rte", test::data_path("fixtures/data/superglue/RTE"), paper());
  EXPECT_EQ(d.train.size(), 2490u);
  EXPECT_EQ(d.dev.size() + d.test.size(), 277u);
  EXPECT_EQ(d.train[0].source,
            "superglue-rte premise: No Weapons of Mass Destruction Found in Iraq Yet. hypothesis: Weapons of Mass "
            "Destruction Found in Iraq.");
  EXPECT_EQ(d.train[0].target, "1");
  auto t = load_task("superglue-rte", test::data_path("fixtures/data/superglue/RTE"), t5());
  EXPECT_EQ(t.train[0].source,
            "rte hypothesis: Weapons of Mass Destruction Found in Iraq. premise: No Weapons of Mass Destruction Found "
            "in Iraq Yet.");
  EXPECT_EQ(t.train[0].target, "not_entailment");
}

TEST(DataSuperGlue, BoolqQuestionFirstInPaperPassageFirstInT5) {
  auto d = load_task("boolq", sample("BoolQ"), paper());
  EXPECT_EQ(d.train.size(), 3u);
  EXPECT_EQ(d.dev.size(), 2u);
  EXPECT_EQ(d.test.size(), 2u);
  EXPECT_EQ(d.train[0].source,
            "superglue-boolq question: is the sun a star passage: Sun -- The Sun is the star at the center of the "
            "Solar System.");
  EXPECT_EQ(d.train[0].target, "1");
  EXPECT_EQ(d.train[1].target, "0");
  auto t = load_task("superglue-boolq", sample("BoolQ"), t5());
  EXPECT_EQ(t.train[0].source,
            "boolq passage: Sun -- The Sun is the star at the center of the Solar System. question: is the sun a star");
  EXPECT_EQ(t.train[0].target, "True");
}

TEST(DataSuperGlue, CbHasThreeClassesAndAccuracyFirst) {
  auto d = load_task("cb", sample("CB"), paper());
  EXPECT_EQ(d.train[0].target, "0");
  EXPECT_EQ(d.train[1].target, "1");
  EXPECT_EQ(d.train[2].target, "2");
  EXPECT_EQ(d.labels, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"accuracy", "macro_f1"}));
  auto t = load_task("cb", sample("CB"), t5());
  EXPECT_EQ(t.train[1].source.rfind("cb hypothesis: men are naturally right premise: Nicky", 0), 0u);
  EXPECT_EQ(t.train[1].target, "contradiction");
  EXPECT_EQ(t.train[2].target, "neutral");
}

TEST(DataSuperGlue, CopaPaperFormatLeavesOutTheQuestion) {
  auto d = load_task("copa", sample("COPA"), paper());
  EXPECT_EQ(d.train[0].source,
            "superglue-copa premise: My body cast a shadow over the grass. choice1: The sun was rising. choice2: The "
            "grass was cut.");
  EXPECT_EQ(d.train[0].target, "0");
  auto t = load_task("copa", sample("COPA"), t5());
  EXPECT_EQ(t.train[0].source,
            "copa choice1: The sun was rising. choice2: The grass was cut. premise: My body cast a shadow over the "
            "grass. question: cause");
  EXPECT_EQ(t.train[0].target, "choice1");
  EXPECT_EQ(t.train[2].target, "choice2");
}

TEST(DataSuperGlue, MultircHasOneExamplePerAnswerGroupedByQuestion) {
  auto d = load_task("multirc", sample("MultiRC"), paper());
  ASSERT_EQ(d.train.size(), 5u);
  std::vector<int64_t> groups;
  for (const auto& e : d.train) groups.push_back(e.group);
  EXPECT_EQ(groups, (std::vector<int64_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(d.train[3].source,
            "superglue-multirc question: When does Mary fly the kite? answer: On Mondays paragraph: Sent 1: Mary has a "
            "red kite. Sent 2: She flies it in the park on Sundays. ");
  EXPECT_EQ(d.train[3].target, "0");
  EXPECT_EQ(d.train[4].target, "1");
  EXPECT_EQ(d.dev.size(), 3u);  // 6 validation answers halved
  EXPECT_EQ(d.test.size(), 3u);
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"f1", "em"}));
  auto t = load_task("multirc", sample("MultiRC"), t5());
  EXPECT_EQ(t.train[0].source.rfind("multirc question: What color is Mary's kite? answer: Red paragraph: Sent 1:", 0),
            0u);
  EXPECT_EQ(t.train[0].target, "True");
}

TEST(DataSuperGlue, RecordExpandsQueriesIntoOneExamplePerAnswer) {
  auto d = load_task("record", sample("ReCoRD"), paper());
  EXPECT_EQ(d.train.size() + d.dev.size(), 4u);  // 4 training queries, one answer each
  EXPECT_EQ(d.dev.size(), 2u);                   // large task: min(2000, half) queries
  ASSERT_EQ(d.test.size(), 4u);                  // validation in file order, 3 queries, 4 answers
  EXPECT_EQ(d.test[0].source,
            "superglue-record record query: @placeholder joined the club in 2023 entities: Florida, Inter Miami, "
            "Lionel Messi, Messi passage: Lionel Messi joined Inter Miami in 2023. Messi signed with Inter Miami. The "
            "club is in Florida.");
  EXPECT_EQ(d.test[0].target, "Lionel Messi");
  EXPECT_EQ(d.test[1].target, "Messi");
  EXPECT_EQ(d.test[1].source, d.test[0].source);
  EXPECT_EQ(d.test[0].group, d.test[1].group);
  EXPECT_NE(d.test[0].group, d.test[2].group);
  EXPECT_EQ(d.test[0].answers, (std::vector<std::string>{"Lionel Messi", "Messi"}));
  EXPECT_EQ(d.test[2].answers, (std::vector<std::string>{"Inter Miami"}));
  EXPECT_EQ(d.max_source_length, 512);
  EXPECT_EQ(d.max_target_length, 128);
  EXPECT_TRUE(d.labels.empty());
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"f1", "em"}));
  // Entity offsets count code points: "Zoë" is 3 characters but 4 bytes.
  const auto all = all_of(d);
  const auto* zoe = find_source(all, "Zo\xC3\xAB");
  ASSERT_NE(zoe, nullptr);
  EXPECT_NE(zoe->source.find("entities: BBC, Radio 1, Zo\xC3\xAB Ball passage: Zo\xC3\xAB Ball hosted the Radio 1 "
                             "breakfast show. Zo\xC3\xAB Ball left Radio 1 in 2003. The BBC thanked her"),
            std::string::npos)
      << zoe->source;
  auto t = load_task("record", sample("ReCoRD"), t5());
  EXPECT_EQ(t.test[0].source.rfind("record query: @placeholder joined", 0), 0u);
}

TEST(DataSuperGlue, WicJoinsBothSentencesAndTheWord) {
  auto d = load_task("wic", sample("WiC"), paper());
  EXPECT_EQ(d.train[0].source,
            "superglue-wic sentence1: Do you want to come over to my place later? sentence2: A political system with "
            "no place for the less prominent groups. word: place");
  EXPECT_EQ(d.train[0].target, "0");
  EXPECT_EQ(load_task("wic", sample("WiC"), t5()).train[1].target, "True");
}

TEST(DataSuperGlue, WscMarksNounAndPronounAfterFixingTheSpan) {
  auto d = load_task("wsc", sample("WSC"), paper());
  EXPECT_EQ(d.train[0].source,
            "superglue-wsc.fixed text: * Mark * told Pete many lies about himself, which Pete included in his book. # "
            "He # should have been more skeptical.");
  EXPECT_EQ(d.train[0].target, "0");
  auto t = load_task("superglue-wsc.fixed", sample("WSC"), t5());
  const auto all = all_of(t);
  const auto* fixed = find_source(all, "councilmen");
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(fixed->source,
            "wsc text: * The city councilmen * refused the demonstrators a permit because # they # feared violence.");
  EXPECT_EQ(fixed->target, "True");
  const auto* joan = find_source(all, "Joan");
  ASSERT_NE(joan, nullptr);
  EXPECT_EQ(joan->source, "wsc text: Joan made sure to thank * Susan * for all the help # she # had given.");
}

TEST(DataSuperGlue, BadJsonMissingFieldsAndBadLabelsNameTheFileAndLine) {
  test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  write("train.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"entailment\", \"idx\": 0}\n");
  write("val.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"entailment\", \"idx\": 0}\n{oops\n");
  EXPECT_THROW_WITH(load_task("cb", dir.str(), paper()), FormatError, "val.jsonl line 2: not valid JSON");
  write("val.jsonl", "{\"premise\": \"a\", \"label\": \"entailment\", \"idx\": 0}\n");
  EXPECT_THROW_WITH(load_task("cb", dir.str(), paper()), FormatError, "val.jsonl line 1: missing field 'hypothesis'");
  write("val.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"maybe\", \"idx\": 0}\n");
  EXPECT_THROW_WITH(load_task("cb", dir.str(), paper()), FormatError,
                    "val.jsonl line 1: label 'maybe' is not one of entailment, contradiction, neutral");
  write("val.jsonl", "[1, 2]\n");
  EXPECT_THROW_WITH(load_task("cb", dir.str(), paper()), FormatError, "line 1: expected a JSON object");
  write("val.jsonl", "\n\n");
  EXPECT_THROW_WITH(load_task("cb", dir.str(), paper()), FormatError, "val.jsonl: no examples");
  test::TempDir boolq;
  std::ofstream(boolq / "train.jsonl") << "{\"question\": \"q\", \"passage\": \"p\", \"label\": \"yes\"}\n";
  std::ofstream(boolq / "val.jsonl") << "{\"question\": \"q\", \"passage\": \"p\", \"label\": true}\n";
  EXPECT_THROW_WITH(load_task("boolq", boolq.str(), paper()), FormatError,
                    "train.jsonl line 1: field 'label' must be true or false");
  test::TempDir empty;
  EXPECT_THROW_WITH(load_task("wic", empty.str(), paper()), IoError, "the SuperGLUE WiC folder with train.jsonl");
}

TEST(DataSuperGlue, WscIndicesAreCheckedWithoutOverflow) {
  test::TempDir dir;
  auto row = [](const std::string& i2, const std::string& i1 = "0") {
    return R"({"text": "Mark told Pete he lied.", "target": {"span1_index": )" + i1 +
           R"(, "span1_text": "Mark", "span2_index": )" + i2 + R"(, "span2_text": "he"}, "label": true})" + "\n";
  };
  auto load = [&](const std::string& train_row) {
    std::ofstream(dir / "train.jsonl") << train_row;
    std::ofstream(dir / "val.jsonl") << row("3") << row("3");
    return load_task("wsc", dir.str(), paper());
  };
  EXPECT_EQ(load(row("3")).train[0].source, "superglue-wsc.fixed text: * Mark * told Pete # he # lied.");
  // span2_index + 2 overflowed int64 here; an index past the last word now just leaves the text unmarked, as in HF.
  EXPECT_EQ(load(row("9223372036854775807")).train[0].source, "superglue-wsc.fixed text: * Mark * told Pete he lied.");
  EXPECT_THROW_WITH(load(row("-1")), FormatError, "train.jsonl line 1 target: span2_index -1 is negative");
}

TEST(DataSuperGlue, RecordEntityEndAtInt64MaxIsAFormatError) {
  test::TempDir dir;
  const std::string line =
      R"({"passage": {"text": "Messi joined Miami.", "entities": [{"start": 0, "end": 9223372036854775807}]},)"
      R"( "qas": [{"query": "@placeholder joined", "answers": [{"text": "Messi"}]}]})";
  std::ofstream(dir / "train.jsonl") << line << "\n" << line << "\n";
  std::ofstream(dir / "val.jsonl") << line << "\n";
  // end + 1 overflowed int64 before the range check.
  EXPECT_THROW_WITH(load_task("record", dir.str(), paper()), FormatError, "train.jsonl line 1 entity: character range");
}

}  // namespace
}  // namespace bipeft::data
