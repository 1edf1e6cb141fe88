// `bipeft data` and `bipeft score` through the built binary: exit codes, stderr text, JSONL schema.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"

namespace bipeft {
namespace {

using test::run_cli;
using test::slurp;

std::string examples(const std::string& rel) { return test::source_path("examples/data/" + rel); }

TEST(DataCli, DataPrintsOneJsonObjectPerExampleAndSizesOnStderr) {
  const auto r = run_cli("data --task rte --data " + examples("rte") + " --split dev");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("train 300, dev 50, test 50, search-train 150, search-val 150"), std::string::npos) << r.err;
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 50u);
  for (const auto& l : lines) {
    const auto j = nlohmann::json::parse(l);
    ASSERT_TRUE(j["source"].is_string());
    ASSERT_TRUE(j["target"] == "0" || j["target"] == "1") << l;
    EXPECT_FALSE(j.contains("group"));
    EXPECT_EQ(j["source"].get<std::string>().rfind("rte sentence1: ", 0), 0u);
  }
  const auto head = run_cli("data --task rte --data " + examples("rte") + " --split train --head 3 --format t5");
  ASSERT_EQ(head.code, 0) << head.err;
  ASSERT_EQ(head.lines().size(), 3u);
  EXPECT_NE(head.out.find("entailment"), std::string::npos);
}

TEST(DataCli, TextPrintsOnlyTheSourcesOfTheSplit) {
  const auto json = run_cli("data --task rte --data " + examples("rte") + " --split train");
  const auto text = run_cli("data --task rte --data " + examples("rte") + " --split train --text");
  ASSERT_EQ(text.code, 0) << text.err;
  const auto j = json.lines(), t = text.lines();
  ASSERT_EQ(t.size(), 300u);
  ASSERT_EQ(j.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], nlohmann::json::parse(j[i])["source"].get<std::string>());
}

TEST(DataCli, RecordLinesCarryAnswersAndGroups) {
  const auto r = run_cli("data --task record --data " + test::data_path("fixtures/superglue-samples/ReCoRD") +
                     " --split test");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto first = nlohmann::json::parse(r.lines().at(0));
  EXPECT_EQ(first["answers"], nlohmann::json({"Lionel Messi", "Messi"}));
  EXPECT_EQ(first["group"], 0);
}

TEST(DataCli, ScoreReadsTheJsonlThatDataWrites) {
  test::TempDir tmp;
  const auto gold = run_cli("data --task mrpc --data " + examples("mrpc") + " --split test");
  ASSERT_EQ(gold.code, 0) << gold.err;
  std::ofstream(tmp / "gold.jsonl") << gold.out;
  std::ofstream pred(tmp / "pred.txt");
  for (const auto& l : gold.lines()) pred << nlohmann::json::parse(l)["target"].get<std::string>() << "\n";
  pred.close();
  const auto r = run_cli("score --task mrpc --pred " + (tmp / "pred.txt") + " --gold " + (tmp / "gold.jsonl"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::ordered_json::parse(r.out);
  EXPECT_EQ(j.begin().key(), "f1");
  EXPECT_DOUBLE_EQ(j["f1"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 100.0);
  // Plain gold lines work too.
  std::ofstream(tmp / "gold.txt") << "1\n0\n1\n";
  std::ofstream(tmp / "p.txt") << "1\n1\n 1 \n";
  const auto plain = run_cli("score --task rte --pred " + (tmp / "p.txt") + " --gold " + (tmp / "gold.txt"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NEAR(nlohmann::json::parse(plain.out)["accuracy"].get<double>(), 200.0 / 3.0, 1e-9);
}

TEST(DataCli, ErrorsHaveClearMessagesAndExitCodes) {
  test::TempDir tmp;
  const auto unknown = run_cli("data --task glue-foo --data " + examples("rte") + " --split dev");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("bipeft data: error: unknown task 'glue-foo'; known tasks:"), std::string::npos)
      << unknown.err;
  const auto wrong = run_cli("data --task mrpc --data " + examples("rte") + " --split dev");
  EXPECT_EQ(wrong.code, 3);
  EXPECT_NE(wrong.err.find("train.tsv: missing column '#1 String'"), std::string::npos) << wrong.err;
  const auto missing = run_cli("data --task rte --data " + tmp.str() + " --split dev");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("train.tsv: missing file"), std::string::npos) << missing.err;
  const auto bad_split = run_cli("data --task rte --data " + examples("rte") + " --split validation");
  EXPECT_EQ(bad_split.code, 2);
  std::ofstream(tmp / "gold.txt") << "1\n0\n";
  std::ofstream(tmp / "pred.txt") << "1\n";
  const auto mismatch = run_cli("score --task rte --pred " + (tmp / "pred.txt") + " --gold " + (tmp / "gold.txt"));
  EXPECT_EQ(mismatch.code, 3);
  EXPECT_NE(mismatch.err.find("pred.txt has 1 lines but"), std::string::npos) << mismatch.err;
}

}  // namespace
}  // namespace bipeft
