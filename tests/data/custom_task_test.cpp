#include <gtest/gtest.h>

#include <fstream>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

using test::write_text;

TaskOptions custom(std::vector<std::string> fields, std::string label, bool regression = false,
                   PromptFormat format = PromptFormat::Paper) {
  TaskOptions o;
  o.text_fields = std::move(fields);
  o.label_field = std::move(label);
  o.regression = regression;
  o.format = format;
  return o;
}

TEST(DataCustom, JsonlClassificationUsesSortedClassIdsInPaperAndLabelTextInT5) {
  test::TempDir dir;
  write_text(dir / "train.jsonl",
        "{\"q\": \"Is it?\", \"p\": \"It is.\", \"y\": \"yes\"}\n{\"q\": \"Was it?\", \"p\": \"No.\", \"y\": \"no\"}\n");
  write_text(dir / "dev.jsonl", "{\"q\": \"A?\", \"p\": \"B.\", \"y\": \"yes\"}\n{\"q\": \"C?\", \"p\": \"D.\", \"y\": \"no\"}\n");
  auto d = load_task("custom", dir.str(), custom({"q", "p"}, "y"));
  ASSERT_EQ(d.train.size(), 2u);
  EXPECT_EQ(d.train[0].source, "custom q: Is it? p: It is.");
  EXPECT_EQ(d.train[0].target, "1");
  EXPECT_EQ(d.train[1].target, "0");
  EXPECT_EQ(d.labels, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"accuracy", "macro_f1"}));
  EXPECT_EQ(d.dev.size() + d.test.size(), 2u);  // no test file: the dev file is halved
  auto t = load_task("custom", dir.str(), custom({"q", "p"}, "y", false, PromptFormat::T5));
  EXPECT_EQ(t.train[0].source, "custom p: It is. q: Is it?");  // T5 sorts the fields
  EXPECT_EQ(t.train[0].target, "yes");
  EXPECT_EQ(t.labels, (std::vector<std::string>{"no", "yes"}));
}

TEST(DataCustom, CsvRegressionWithQuotedFieldsAndATestFile) {
  test::TempDir dir;
  write_text(dir / "train.csv", "text,score\n\"Hello, world\",3.5\n\"She said \"\"hi\"\"\nand left\",4\nplain,0.25\n");
  write_text(dir / "dev.csv", "text,score\nx,1\n");
  write_text(dir / "test.csv", "text,score\ny,2.0\nz,-1\n");
  auto d = load_task("custom", dir.str(), custom({"text"}, "score", true));
  ASSERT_EQ(d.train.size(), 3u);
  EXPECT_EQ(d.train[0].source, "custom text: Hello, world");
  EXPECT_EQ(d.train[0].target, "3.5");
  EXPECT_EQ(d.train[1].source, "custom text: She said \"hi\"\nand left");
  EXPECT_EQ(d.train[1].target, "4");
  EXPECT_EQ(d.train[2].target, "0.25");
  EXPECT_EQ(d.dev.size(), 1u);   // a test file keeps the files as they are
  ASSERT_EQ(d.test.size(), 2u);
  EXPECT_EQ(d.test[0].target, "2");
  EXPECT_TRUE(d.is_regression);
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"pearson", "spearman"}));
}

TEST(DataCustom, TsvIntegerClassesSortNumerically) {
  test::TempDir dir;
  write_text(dir / "train.tsv", "a\tb\tlabel\nx\ty\t10\nx\ty\t2\nx\ty\t1\n");
  write_text(dir / "dev.tsv", "a\tb\tlabel\nx\ty\t2\nx\ty\t10\n");
  auto d = load_task("custom", dir.str(), custom({"b", "a"}, "label"));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_EQ(d.train[0].source, "custom b: y a: x");
  EXPECT_EQ(d.train[0].target, "2");  // "10" is class 2
  EXPECT_EQ(d.max_source_length, 256);
}

TEST(DataCustom, BadInputNamesTheFileRowAndField) {
  test::TempDir dir;
  write_text(dir / "train.jsonl", "{\"q\": \"A\", \"y\": \"1\"}\n{\"y\": \"0\"}\n");
  write_text(dir / "dev.jsonl", "{\"q\": \"A\", \"y\": \"1\"}\n{\"q\": \"B\", \"y\": \"0\"}\n");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "y")), FormatError,
                    "train.jsonl line 2: missing field 'q'");
  write_text(dir / "train.jsonl", "{\"q\": \"A\", \"y\": \"big\"}\n");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "y", true)), FormatError,
                    "train.jsonl line 1: label 'big' is not a number");
  write_text(dir / "train.jsonl", "{\"q\": \"A\", \"y\": \"1\"}\n");
  write_text(dir / "dev.jsonl", "{\"q\": \"A\", \"y\": \"1\"}\n");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "y")), FormatError, "at least 2 distinct labels");
  write_text(dir / "train.csv", "q,y\n");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "y")), ConfigError, "several train files");
  test::TempDir csv;
  write_text(csv / "train.csv", "q,y\n\"open,1\n");
  write_text(csv / "dev.csv", "q,y\na,1\n");
  EXPECT_THROW_WITH(load_task("custom", csv.str(), custom({"q"}, "y")), FormatError,
                    "train.csv line 2: unterminated quoted field");
  write_text(csv / "train.csv", "q,y\na,1,extra\n");
  EXPECT_THROW_WITH(load_task("custom", csv.str(), custom({"q"}, "y")), FormatError,
                    "train.csv line 2: expected 2 comma-separated columns");
  test::TempDir none;
  EXPECT_THROW_WITH(load_task("custom", none.str(), custom({"q"}, "y")), IoError, "train.{jsonl,csv,tsv}: missing file");
}

TEST(DataCustom, MissingOptionsAreConfigErrors) {
  test::TempDir dir;
  EXPECT_THROW_WITH(load_task("custom", dir.str(), TaskOptions{}), ConfigError, "TaskOptions.text_fields is required");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "")), ConfigError, "TaskOptions.label_field is required");
  EXPECT_THROW_WITH(load_task("custom", dir.str(), custom({"q"}, "q")), ConfigError, "both a text field and the label");
}

}  // namespace
}  // namespace bipeft::data
