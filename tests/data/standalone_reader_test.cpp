// IMDB (a task with its own download): the reader on hand-written files in the distributed layout,
// plain and .xz-compressed (the same examples either way), the large-task split, the prompt, its
// errors, and the fixed test subset of --max-test.
#include <gtest/gtest.h>

#include <lzma.h>

#include "bipeft/core/error.h"
#include "bipeft/data/task.h"
#include "bipeft/io/xz.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

std::string xz(const std::string& text) {
  std::string out(lzma_stream_buffer_bound(text.size()), '\0');
  size_t pos = 0;
  const auto ret = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(text.data()),
                                           text.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size());
  EXPECT_EQ(ret, LZMA_OK);
  out.resize(pos);
  return out;
}

// n rows; row i is positive when i is odd, its text says which row it is.
std::string imdb_rows(int n, const std::string& what) {
  std::string s = "label\trating\ttext\n";
  for (int i = 0; i < n; ++i)
    s += std::to_string(i % 2) + "\t" + std::to_string(i % 2 ? 8 : 2) + "\t" + what + " review " + std::to_string(i) +
         ".<br /><br />Second line.\n";
  return s;
}

int row_number(const std::string& source) {
  const std::string key = "review ";
  return std::stoi(source.substr(source.rfind(key) + key.size()));
}

TEST(DataImdb, ReadsTheLayoutAsALargeTaskWithTheReviewPrompt) {
  test::TempDir dir;
  test::write_text(dir / "train.tsv", imdb_rows(4010, "train"));
  test::write_text(dir / "test.tsv", imdb_rows(30, "test"));
  const auto d = load_task("imdb", dir.str(), TaskOptions{});
  EXPECT_EQ(d.dev.size(), 2000u);  // 2,000 training rows become dev (at most half of them)
  EXPECT_EQ(d.train.size(), 2010u);
  ASSERT_EQ(d.test.size(), 30u);   // the test file, in order
  EXPECT_EQ(d.test[3].source, "imdb review: test review 3.  Second line.");
  EXPECT_EQ(d.test[3].target, "1");
  EXPECT_EQ(d.test[4].target, "0");
  EXPECT_EQ(d.metrics, (std::vector<std::string>{"accuracy"}));
  TaskOptions t5;
  t5.format = PromptFormat::T5;
  const auto w = load_task("IMDB", dir.str(), t5);
  EXPECT_EQ(w.test[3].target, "positive");
  EXPECT_EQ(w.test[4].target, "negative");
}

TEST(DataImdb, CompressedFilesGiveTheSameExamples) {
  test::TempDir plain, packed;
  const auto train = imdb_rows(4010, "train"), test = imdb_rows(30, "test");
  test::write_text(plain / "train.tsv", train);
  test::write_text(plain / "test.tsv", test);
  test::write_text(packed / "train.tsv.xz", xz(train));
  test::write_text(packed / "test.tsv.xz", xz(test));
  const auto a = load_task("imdb", plain.str(), TaskOptions{}), b = load_task("imdb", packed.str(), TaskOptions{});
  ASSERT_EQ(a.train.size(), b.train.size());
  ASSERT_EQ(a.test.size(), b.test.size());
  for (size_t i = 0; i < a.train.size(); ++i) EXPECT_EQ(a.train[i].source, b.train[i].source);
  for (size_t i = 0; i < a.test.size(); ++i) EXPECT_EQ(a.test[i].source, b.test[i].source);
  EXPECT_EQ(io::read_text_file(packed / "test.tsv.xz"), test);
}

TEST(DataImdb, BadFilesNameTheFileAndWhatToDo) {
  test::TempDir dir;
  EXPECT_THROW_WITH(load_task("imdb", dir.str(), TaskOptions{}), IoError, "train.tsv.xz");
  test::write_text(dir / "train.tsv", imdb_rows(4010, "train") + "2\t5\tneither\n");
  test::write_text(dir / "test.tsv", imdb_rows(3, "test"));
  EXPECT_THROW_WITH(load_task("imdb", dir.str(), TaskOptions{}), FormatError, "train.tsv line 4012: label '2'");
  test::TempDir bad;
  test::write_text(bad / "train.tsv.xz", xz(imdb_rows(4010, "train")).substr(0, 100));  // truncated
  test::write_text(bad / "test.tsv", imdb_rows(3, "test"));
  EXPECT_THROW_WITH(load_task("imdb", bad.str(), TaskOptions{}), FormatError, "cannot decompress");
  test::write_text(bad / "train.tsv.xz", "label\trating\ttext\n");  // not xz at all
  EXPECT_THROW_WITH(load_task("imdb", bad.str(), TaskOptions{}), FormatError, "not an xz file");
}

TEST(DataImdb, MaxTestScoresTheSameFixedSubsetForEverySeed) {
  test::TempDir dir;
  test::write_text(dir / "train.tsv", imdb_rows(4010, "train"));
  test::write_text(dir / "test.tsv", imdb_rows(100, "test"));
  TaskOptions o;
  o.max_test = 25;
  const auto a = load_task("imdb", dir.str(), o);
  o.seed = 7;
  const auto b = load_task("imdb", dir.str(), o);
  ASSERT_EQ(a.test.size(), 25u);
  ASSERT_EQ(b.test.size(), 25u);
  int positive = 0;
  for (size_t i = 0; i < a.test.size(); ++i) {
    EXPECT_EQ(a.test[i].source, b.test[i].source);
    positive += a.test[i].target == "1";
    if (i > 0) {
      EXPECT_LT(row_number(a.test[i - 1].source), row_number(a.test[i].source));  // original order
    }
  }
  EXPECT_GT(positive, 0);
  EXPECT_LT(positive, 25);
  o.max_test = 1000;  // more than there are: all of them
  EXPECT_EQ(load_task("imdb", dir.str(), o).test.size(), 100u);
  o.max_test = -1;
  EXPECT_THROW_WITH(load_task("imdb", dir.str(), o), ConfigError, "max_test");
}

}  // namespace
}  // namespace bipeft::data
