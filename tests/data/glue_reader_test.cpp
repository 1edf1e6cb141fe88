// GLUE readers on the real files (copied to tests/fixtures/data/glue) and on hand-written files in
// the official layouts of the tasks not shipped here (MNLI, QQP, QNLI, WNLI).
#include <gtest/gtest.h>

#include <fstream>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

std::string glue(const std::string& task) { return test::data_path("fixtures/data/glue/" + task); }

TaskOptions paper() { return TaskOptions{}; }
TaskOptions t5() {
  TaskOptions o;
  o.format = PromptFormat::T5;
  return o;
}

using test::write_text;

TEST(DataGlue, RteRowCountsMatchTheOfficialFiles) {
  auto d = load_task("rte", glue("RTE"), paper());
  EXPECT_EQ(d.train.size(), 2490u);
  EXPECT_EQ(d.dev.size() + d.test.size(), 277u);
  EXPECT_EQ(d.dev.size(), 138u);
  EXPECT_EQ(d.train[0].source,
            "rte sentence1: No Weapons of Mass Destruction Found in Iraq Yet. sentence2: Weapons of Mass "
            "Destruction Found in Iraq.");
  EXPECT_EQ(d.train[0].target, "1");  // not_entailment
  EXPECT_EQ(d.train[1].target, "0");  // entailment
  EXPECT_EQ(d.max_source_length, 256);
  EXPECT_EQ(d.metrics, std::vector<std::string>{"accuracy"});
  EXPECT_EQ(d.labels, (std::vector<std::string>{"0", "1"}));
}

TEST(DataGlue, RteT5FormatUsesLabelWords) {
  auto d = load_task("rte", glue("RTE"), t5());
  EXPECT_EQ(d.train[0].target, "not_entailment");
  EXPECT_EQ(d.train[1].target, "entailment");
  EXPECT_EQ(d.labels, (std::vector<std::string>{"entailment", "not_entailment"}));
}

TEST(DataGlue, MrpcRowCountsMatchAndTheByteOrderMarkIsSkipped) {
  auto d = load_task("mrpc", glue("MRPC"), paper());
  EXPECT_EQ(d.train.size(), 3668u);
  EXPECT_EQ(d.dev.size() + d.test.size(), 408u);
  EXPECT_EQ(d.train[0].source,
            "mrpc sentence1: Amrozi accused his brother, whom he called \"the witness\", of deliberately distorting "
            "his evidence. sentence2: Referring to him as only \"the witness\", Amrozi accused his brother of "
            "deliberately distorting his evidence.");
  EXPECT_EQ(d.train[0].target, "1");
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"f1", "accuracy"}));
  EXPECT_EQ(load_task("mrpc", glue("MRPC"), t5()).train[1].target, "not_equivalent");
}

TEST(DataGlue, ColaDevJoinsInDomainAndOutOfDomain) {
  auto d = load_task("cola", glue("CoLA"), paper());
  EXPECT_EQ(d.train.size(), 8551u);
  EXPECT_EQ(d.dev.size() + d.test.size(), 1043u);
  EXPECT_EQ(d.train[0].source, "cola sentence: Our friends won't buy this analysis, let alone the next one we propose.");
  EXPECT_EQ(d.train[0].target, "1");
  EXPECT_EQ(d.metrics, std::vector<std::string>{"mcc"});
}

TEST(DataGlue, StsbRowCountsMatchAndTargetsSitOnTheTenthGrid) {
  auto d = load_task("stsb", glue("STS-B"), paper());
  EXPECT_EQ(d.train.size(), 5749u);
  EXPECT_EQ(d.dev.size() + d.test.size(), 1500u);
  EXPECT_TRUE(d.is_regression);
  EXPECT_TRUE(d.labels.empty());
  EXPECT_EQ(d.train[0].target, "5.0");
  EXPECT_EQ(d.train[1].target, "3.8");
  for (const auto* split : {&d.train, &d.dev, &d.test}) {
    for (const auto& e : *split) {
      const double v = std::stod(e.target);
      ASSERT_GE(v, 0.0) << e.target;
      ASSERT_LE(v, 5.0) << e.target;
      ASSERT_EQ(e.target.size(), 3u) << e.target;  // "d.d"
    }
  }
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"pearson", "spearman"}));
}

TEST(DataGlue, Sst2IsALargeTaskWithTwoThousandDevRows) {
  auto d = load_task("sst2", glue("SST-2"), paper());
  EXPECT_EQ(d.train.size() + d.dev.size(), 67349u);
  EXPECT_EQ(d.dev.size(), 2000u);
  EXPECT_EQ(d.test.size(), 872u);
  EXPECT_EQ(d.test[0].source, "sst2 sentence: it 's a charming and often affecting journey . ");
  EXPECT_EQ(d.test[0].target, "1");
  EXPECT_EQ(d.search_train.size(), 65349u / 2);
}

TEST(DataGlue, MnliReadsMatchedAndMismatchedWithTheHeaderColumns) {
  test::TempDir dir;
  const std::string train_header =
      "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
      "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n";
  const std::string dev_header =
      "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
      "sentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n";
  auto train_row = [](int i, const std::string& label) {
    return std::to_string(i) + "\t1\t1e\tgov\t( P )\t( H )\t(ROOT P)\t(ROOT H)\tPremise " + std::to_string(i) +
           ".\tHypothesis " + std::to_string(i) + ".\t" + label + "\t" + label + "\n";
  };
  auto dev_row = [](int i, const std::string& label) {
    return std::to_string(i) + "\t1\t1e\tfiction\tx\tx\tx\tx\tP" + std::to_string(i) + "\tH" + std::to_string(i) +
           "\t" + label + "\t" + label + "\t" + label + "\t" + label + "\t" + label + "\t" + label + "\n";
  };
  write_text(dir / "train.tsv", train_header + train_row(0, "neutral") + train_row(1, "entailment") +
                               train_row(2, "contradiction") + train_row(3, "neutral"));
  write_text(dir / "dev_matched.tsv", dev_header + dev_row(0, "contradiction") + dev_row(1, "entailment"));
  write_text(dir / "dev_mismatched.tsv", dev_header + dev_row(5, "neutral"));
  auto d = load_task("mnli", dir.str(), paper());
  EXPECT_EQ(d.train.size(), 2u);
  EXPECT_EQ(d.dev.size(), 2u);
  ASSERT_EQ(d.test.size(), 2u);
  EXPECT_EQ(d.test[0].source, "mnli premise: P0 hypothesis H0");  // no colon after "hypothesis"
  EXPECT_EQ(d.test[0].target, "2");
  ASSERT_EQ(d.test_mismatched.size(), 1u);
  EXPECT_EQ(d.test_mismatched[0].target, "1");
  auto t = load_task("mnli", dir.str(), t5());
  EXPECT_EQ(t.test[0].source, "mnli hypothesis: H0 premise: P0");
  EXPECT_EQ(t.test[0].target, "contradiction");
}

TEST(DataGlue, QqpQnliWnliReadTheOfficialLayouts) {
  test::TempDir qqp, qnli, wnli;
  write_text(qqp / "train.tsv",
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tHow?\tWhy?\t0\n2\t3\t4\tA?\tB?\t1\n3\t5\t6\tC?\tD?\t1\n");
  write_text(qqp / "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n9\t7\t8\tE?\tF?\t1\n");
  auto q = load_task("qqp", qqp.str(), paper());
  ASSERT_EQ(q.test.size(), 1u);
  EXPECT_EQ(q.test[0].source, "qqp question1: E? question2: F?");
  EXPECT_EQ(q.test[0].target, "1");
  EXPECT_EQ(q.dev.size() + q.train.size(), 3u);
  EXPECT_EQ(q.metrics, (std::vector<std::string>{"f1", "accuracy"}));

  write_text(qnli / "train.tsv", "index\tquestion\tsentence\tlabel\n0\tQ0?\tS0.\tentailment\n1\tQ1?\tS1.\tnot_entailment\n");
  write_text(qnli / "dev.tsv", "index\tquestion\tsentence\tlabel\n0\tQ?\tS.\tnot_entailment\n");
  auto n = load_task("qnli", qnli.str(), t5());
  EXPECT_EQ(n.test[0].source, "qnli question: Q? sentence: S.");
  EXPECT_EQ(n.test[0].target, "not_entailment");

  write_text(wnli / "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\t1\n");
  write_text(wnli / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\tC.\tD.\t0\n1\tE.\tF.\t1\n");
  auto w = load_task("wnli", wnli.str(), t5());
  EXPECT_EQ(w.train[0].source, "wnli sentence1: A. sentence2: B.");
  EXPECT_EQ(w.train[0].target, "entailment");  // WNLI: 1 = entailment
}

TEST(DataGlue, ShippedSamplesLoadWithoutTheSharedData) {
  struct Case {
    const char* task;
    const char* dir;
    size_t train, dev, test;
  };
  for (const auto& c : {Case{"sst2", "sst2", 150, 150, 100}, Case{"rte", "rte", 300, 50, 50},
                        Case{"mrpc", "mrpc", 300, 50, 50}, Case{"cola", "cola", 300, 50, 50},
                        Case{"stsb", "stsb", 300, 50, 50}, Case{"superglue-rte", "superglue-rte", 300, 50, 50}}) {
    auto d = load_task(c.task, test::source_path(std::string("examples/data/") + c.dir), paper());
    EXPECT_EQ(d.train.size(), c.train) << c.task;
    EXPECT_EQ(d.dev.size(), c.dev) << c.task;
    EXPECT_EQ(d.test.size(), c.test) << c.task;
    for (const auto& e : d.train) ASSERT_FALSE(e.source.empty() || e.target.empty()) << c.task;
  }
}

// ---- bad input -------------------------------------------------------------------------------

TEST(DataGlue, MissingFileNamesTheFileAndTheExpectedLayout) {
  test::TempDir dir;
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), IoError, "train.tsv: missing file");
  EXPECT_THROW_WITH(load_task("rte", dir / "nope", paper()), IoError, "not a folder");
}

TEST(DataGlue, MissingColumnNamesTheColumnAndTheFile) {
  test::TempDir dir;
  write_text(dir / "train.tsv", "index\tsentence1\tlabel\n0\ta\tentailment\n");
  write_text(dir / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError, "train.tsv: missing column 'sentence2'");
}

TEST(DataGlue, WrongColumnCountNamesTheFileAndLine) {
  test::TempDir dir;
  write_text(dir / "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tentailment\n");
  write_text(dir / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError,
                    "train.tsv line 3: expected 4 tab-separated columns as in the header");
  test::TempDir cola;
  write_text(cola / "train.tsv", "gj04\t1\t\tGood.\ngj04\t1\tBad.\n");
  write_text(cola / "dev.tsv", "gj04\t1\t\tGood.\n");
  EXPECT_THROW_WITH(load_task("cola", cola.str(), paper()), FormatError,
                    "train.tsv line 2: expected 4 tab-separated columns (source, label, original label, sentence), found 3");
}

TEST(DataGlue, BadLabelNamesTheFileLineAndTheAcceptedValues) {
  test::TempDir dir;
  write_text(dir / "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n");
  write_text(dir / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError,
                    "train.tsv line 2: label 'maybe' is not one of entailment, not_entailment");
  test::TempDir sst;
  write_text(sst / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t2\n");
  write_text(sst / "dev.tsv", "sentence\tlabel\nok\t1\n");
  EXPECT_THROW_WITH(load_task("sst2", sst.str(), paper()), FormatError, "line 3: label '2' is not one of 0, 1");
  test::TempDir sts;
  write_text(sts / "train.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\thigh\n");
  write_text(sts / "dev.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1.0\n");
  EXPECT_THROW_WITH(load_task("stsb", sts.str(), paper()), FormatError, "line 2: score 'high' is not a number");
}

TEST(DataGlue, EmptyFilesAndTooFewRowsAreClearErrors) {
  test::TempDir dir;
  write_text(dir / "train.tsv", "index\tsentence1\tsentence2\tlabel\n");
  write_text(dir / "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError, "train.tsv: no examples (only a header line)");
  write_text(dir / "train.tsv", "");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError, "train.tsv: empty file");
  write_text(dir / "train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n");
  EXPECT_THROW_WITH(load_task("rte", dir.str(), paper()), FormatError, "the dev split of rte is empty");
}

TEST(DataGlue, StsbScoreOutsideFloatRangeIsAFormatError) {
  // Converting 1e39 to the float32 label was undefined behaviour.
  test::TempDir dir;
  const std::string header = "index\tsentence1\tsentence2\tscore\n";
  write_text(dir / "train.tsv", header + "0\ta\tb\t1e39\n");
  write_text(dir / "dev.tsv", header + "0\ta\tb\t1\n1\tc\td\t2\n");
  EXPECT_THROW_WITH(load_task("stsb", dir.str(), paper()), FormatError, "train.tsv line 2: score '1e39' is out of range");
}

}  // namespace
}  // namespace bipeft::data
