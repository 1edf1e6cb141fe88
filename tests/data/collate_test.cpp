#include "bipeft/data/collate.h"

#include <gtest/gtest.h>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

text::Tokenizer tokenizer() { return text::Tokenizer::from_file(test::data_path("fixtures/tokenizer/spiece.model")); }

TEST(DataCollate, TruncationKeepsEosAsTheLastToken) {
  const auto tok = tokenizer();
  const std::string long_text = "one two three four five six seven eight nine ten eleven twelve thirteen";
  const auto full = tok.encode(long_text);
  ASSERT_GT(full.size(), 8u);
  const auto t = tokenize_examples(tok, {make_example(long_text, "1")}, 8, 4);
  ASSERT_EQ(t[0].source_ids.size(), 8u);
  EXPECT_EQ(t[0].source_ids.back(), tok.eos_id());
  EXPECT_EQ(std::vector<int64_t>(t[0].source_ids.begin(), t[0].source_ids.end() - 1),
            std::vector<int64_t>(full.begin(), full.begin() + 7));
  EXPECT_EQ(t[0].target_ids, tok.encode("1"));  // short: untouched, EOS appended
  EXPECT_THROW_WITH(tokenize_examples(tok, {}, 0, 4), ConfigError, "at least 1");
}

TEST(DataCollate, BatchesPadToAMultipleOfEightWithMaskAndIgnoredLabels) {
  std::vector<TokenizedExample> all = {{{5, 6, 7, 1}, {9, 1}},
                                       {{5, 1}, {8, 8, 8, 8, 8, 8, 8, 8, 8, 1}},
                                       {{4, 4, 4, 4, 4, 4, 4, 4, 4, 1}, {3, 1}}};
  const auto b = make_batch(all, {0, 1}, /*pad_id=*/0);
  ASSERT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{2, 8}));
  ASSERT_EQ(b.labels.sizes(), (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(b.input_ids.dtype(), torch::kLong);
  EXPECT_EQ(b.input_ids[0][3].item<int64_t>(), 1);
  EXPECT_EQ(b.input_ids[0][4].item<int64_t>(), 0);
  EXPECT_EQ(b.attention_mask.sum(1)[0].item<int64_t>(), 4);
  EXPECT_EQ(b.attention_mask.sum(1)[1].item<int64_t>(), 2);
  EXPECT_EQ(b.labels[0][1].item<int64_t>(), 1);
  EXPECT_EQ(b.labels[0][2].item<int64_t>(), kLabelPad);
  EXPECT_EQ(b.labels[1][9].item<int64_t>(), 1);
  EXPECT_EQ((b.labels == kLabelPad).sum().item<int64_t>(), 16 * 2 - 2 - 10);
  EXPECT_EQ(b.indices, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(make_batch(all, {2}, 0).input_ids.size(1), 16);
  EXPECT_THROW_WITH(make_batch(all, {}, 0), ConfigError, "empty batch");
  EXPECT_THROW_WITH(make_batch(all, {3}, 0), ConfigError, "out of range");
}

TEST(DataCollate, EpochBatchesCoverEveryIndexOnceAndShuffleBySeedAndEpoch) {
  const auto in_order = epoch_batches(10, 4, 1, 0, false);
  ASSERT_EQ(in_order.size(), 3u);
  EXPECT_EQ(in_order[0], (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(in_order[2], (std::vector<size_t>{8, 9}));
  const auto e0 = epoch_batches(10, 4, 1, 0, true), e0b = epoch_batches(10, 4, 1, 0, true);
  const auto e1 = epoch_batches(10, 4, 1, 1, true), s2 = epoch_batches(10, 4, 2, 0, true);
  EXPECT_EQ(e0, e0b);
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, s2);
  std::vector<size_t> seen;
  for (const auto& b : e1) seen.insert(seen.end(), b.begin(), b.end());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(epoch_batches(0, 4, 1, 0, true).empty());
  EXPECT_THROW_WITH(epoch_batches(10, 0, 1, 0, true), ConfigError, "batch size");
}

TEST(DataCollate, MaxTargetLengthIsTheLongestTokenizedLabel) {
  const auto tok = tokenizer();
  TaskOptions paper, t5;
  t5.format = PromptFormat::T5;
  const auto rte = task_info("rte", paper);
  EXPECT_EQ(tok.encode("0").size(), 3u);  // "▁", "0", EOS: the longest label (§11.2)
  EXPECT_EQ(tok.encode("1").size(), 2u);
  EXPECT_EQ(max_target_length(tok, rte), 3);
  EXPECT_LE(max_target_length(tok, rte), rte.max_target_length);  // the bound holds
  const auto rte_t5 = task_info("rte", t5);
  EXPECT_EQ(max_target_length(tok, rte_t5), static_cast<int64_t>(tok.encode("not_entailment").size()));
  EXPECT_LE(max_target_length(tok, rte_t5), rte_t5.max_target_length);
  EXPECT_EQ(max_target_length(tok, task_info("record", paper)), 128);
}

}  // namespace
}  // namespace bipeft::data
