#include "bipeft/text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::text {
namespace {

TEST(Tokenizer, EveryFixtureCaseMatchesTransformersT5Tokenizer) {
  auto tok = Tokenizer::from_file(test::data_path("fixtures/tokenizer/spiece.model"));
  std::ifstream in(test::data_path("fixtures/tokenizer/cases.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    const auto text = j["text"].get<std::string>();
    auto expected_ids = j["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok.encode(text), expected_ids) << "encode: " << text;
    EXPECT_EQ(tok.decode(expected_ids), j["decoded"].get<std::string>()) << "decode: " << text;
    ++n;
  }
  EXPECT_EQ(n, 32);
}

TEST(Tokenizer, SentinelIdsCountDownFromTheTopOfTheVocabulary) {
  auto tok = Tokenizer::from_file(test::data_path("fixtures/tokenizer/spiece.model"));
  EXPECT_EQ(tok.vocab_size(), 32100);
  EXPECT_EQ(tok.sentinel_id(0), 32099);
  EXPECT_EQ(tok.sentinel_id(99), 32000);
  EXPECT_EQ(tok.id_to_piece(32099), "<extra_id_0>");
  EXPECT_EQ(tok.encode("<extra_id_99>", false), std::vector<int64_t>{32000});
}

TEST(Tokenizer, MissingModelFileIsAClearError) {
  test::TempDir tmp;
  EXPECT_THROW_WITH(Tokenizer::from_model_dir(tmp.str()), IoError, "spiece.model");
}

TEST(Tokenizer, NonModelFileIsAFormatError) {
  test::TempDir tmp;
  std::ofstream(tmp / "spiece.model") << "not a sentencepiece model";
  EXPECT_THROW_WITH(Tokenizer::from_model_dir(tmp.str()), FormatError, "not a SentencePiece model");
}

}  // namespace
}  // namespace bipeft::text
