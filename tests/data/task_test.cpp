#include "bipeft/data/task.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

TEST(DataTask, UnknownTaskListsTheKnownOnes) {
  EXPECT_THROW_WITH(load_task("glue-foo", "/tmp", TaskOptions{}), ConfigError,
                    "unknown task 'glue-foo'; known tasks: cola, sst2, mrpc");
  EXPECT_THROW_WITH(task_info("squad", TaskOptions{}), ConfigError, "known tasks:");
  EXPECT_THROW_WITH(parse_prompt_format("gpt"), ConfigError, "use 'paper'");
}

TEST(DataTask, AliasesMapToCanonicalNames) {
  EXPECT_EQ(canonical_task_name("SST-2"), "sst2");
  EXPECT_EQ(canonical_task_name("sts-b"), "stsb");
  EXPECT_EQ(canonical_task_name("superglue-boolq"), "boolq");
  EXPECT_EQ(canonical_task_name("superglue-record"), "record");
  EXPECT_EQ(canonical_task_name("superglue-wsc.fixed"), "wsc");
  EXPECT_EQ(canonical_task_name("superglue-rte"), "superglue-rte");
  EXPECT_EQ(canonical_task_name("RTE"), "rte");
  EXPECT_EQ(canonical_task_name("IMDB"), "imdb");
  EXPECT_EQ(known_tasks().size(), 19u);
}

TEST(DataTask, InfoGivesThePaperMetricOrderAndLengths) {
  struct Case {
    const char* task;
    std::vector<std::string> metrics;
    int64_t max_source;
  };
  for (const auto& c : {Case{"cola", {"mcc"}, 128}, Case{"sst2", {"accuracy"}, 128}, Case{"mrpc", {"f1", "accuracy"}, 128},
                        Case{"qqp", {"f1", "accuracy"}, 128}, Case{"stsb", {"pearson", "spearman"}, 128},
                        Case{"mnli", {"accuracy"}, 128}, Case{"qnli", {"accuracy"}, 128}, Case{"rte", {"accuracy"}, 256},
                        Case{"wnli", {"accuracy"}, 128}, Case{"boolq", {"accuracy"}, 256},
                        Case{"cb", {"accuracy", "macro_f1"}, 256}, Case{"copa", {"accuracy"}, 256},
                        Case{"multirc", {"f1", "em"}, 256}, Case{"record", {"f1", "em"}, 512},
                        Case{"superglue-rte", {"accuracy"}, 256}, Case{"wic", {"accuracy"}, 256},
                        Case{"wsc", {"accuracy"}, 256}}) {
    const auto d = task_info(c.task, TaskOptions{});
    EXPECT_EQ(d.metrics, c.metrics) << c.task;
    EXPECT_EQ(d.max_source_length, c.max_source) << c.task;
    EXPECT_TRUE(d.train.empty());
  }
  TaskOptions t5;
  t5.format = PromptFormat::T5;
  EXPECT_EQ(task_info("mnli", t5).labels, (std::vector<std::string>{"entailment", "neutral", "contradiction"}));
  EXPECT_EQ(task_info("mnli", TaskOptions{}).labels, (std::vector<std::string>{"0", "1", "2"}));
  TaskOptions reg;
  reg.regression = true;
  EXPECT_EQ(task_info("custom", reg).metrics, (std::vector<std::string>{"pearson", "spearman"}));
}

TEST(DataTask, SplitByNameRejectsUnknownSplits) {
  TaskData d = task_info("rte", TaskOptions{});
  EXPECT_EQ(&split_by_name(d, "search-val"), &d.search_val);
  EXPECT_THROW_WITH(split_by_name(d, "validation"), ConfigError, "unknown split 'validation'");
  EXPECT_THROW_WITH(split_by_name(d, "test-mismatched"), ConfigError, "only for mnli");
}

}  // namespace
}  // namespace bipeft::data
