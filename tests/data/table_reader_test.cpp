#include "bipeft/data/table_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "bipeft/core/error.h"
#include "test_util.h"

namespace bipeft::data {
namespace {

using test::write_text;

TEST(DataTable, TsvSkipsTheByteOrderMarkBlankLinesAndCarriageReturnsAndKeepsQuotes) {
  test::TempDir dir;
  write_text(dir / "a.tsv", "\xEF\xBB\xBFQuality\ttext\r\n1\t\"quoted\r\n\n0\tsay \"hi\"\n");
  auto t = read_table(dir / "a.tsv", TableOptions{});
  EXPECT_EQ(t.header, (std::vector<std::string>{"Quality", "text"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].cells[1], "\"quoted");  // no CSV quoting in TSV
  EXPECT_EQ(t.rows[1].line, 4);
  EXPECT_EQ(t.rows[1].cells[1], "say \"hi\"");
  EXPECT_EQ(t.column("text"), 1u);
  EXPECT_THROW_WITH(t.column("label"), FormatError, "missing column 'label' (header has: Quality, text)");
}

TEST(DataTable, CsvHandlesQuotesCommasAndNewlinesInsideFields) {
  test::TempDir dir;
  write_text(dir / "a.csv", "a,b\r\n\"x, y\",\"he said \"\"no\"\"\"\n\"multi\nline\",2\nlast,\n");
  TableOptions o;
  o.kind = TableKind::Csv;
  auto t = read_table(dir / "a.csv", o);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].cells, (std::vector<std::string>{"x, y", "he said \"no\""}));
  EXPECT_EQ(t.rows[1].cells[0], "multi\nline");
  EXPECT_EQ(t.rows[2].line, 5);
  EXPECT_EQ(t.rows[2].cells, (std::vector<std::string>{"last", ""}));
}

TEST(DataTable, HeaderlessFilesCheckTheColumnCount) {
  test::TempDir dir;
  write_text(dir / "a.tsv", "a\tb\nc\n");
  TableOptions o;
  o.has_header = false;
  o.columns = 2;
  o.column_names = "x, y";
  EXPECT_THROW_WITH(read_table(dir / "a.tsv", o), FormatError, "a.tsv line 2: expected 2 tab-separated columns (x, y), found 1");
  EXPECT_THROW_WITH(read_table(dir / "missing.tsv", o), IoError, "missing.tsv");
}

TEST(DataTable, JsonlRowsKeepTheirLineNumbers) {
  test::TempDir dir;
  write_text(dir / "a.jsonl", "{\"a\": 1}\n\n{\"a\": 2}\n");
  auto rows = read_jsonl(dir / "a.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].line, 3);
  EXPECT_EQ(rows[1].value["a"], 2);
  write_text(dir / "b.jsonl", "");
  EXPECT_THROW_WITH(read_jsonl(dir / "b.jsonl"), FormatError, "b.jsonl: no examples (empty file)");
}

TEST(DataTable, InMemoryTextParsesLikeAFile) {
  TableOptions o;
  o.kind = TableKind::Csv;
  auto t = parse_table("\xEF\xBB\xBF" "a,b\n\"1, 2\",3\n", "mem.csv", o);
  EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.rows.at(0).cells, (std::vector<std::string>{"1, 2", "3"}));
  EXPECT_THROW_WITH(parse_table("a,b\n\"open", "mem.csv", o), FormatError, "mem.csv line 2: unterminated quoted field");
  auto rows = parse_jsonl("{\"a\": 1}\n", "mem.jsonl");
  EXPECT_EQ(rows.at(0).value["a"], 1);
  // A number nlohmann::json cannot hold is a FormatError with the line, not an escaping json exception.
  EXPECT_THROW_WITH(parse_jsonl("{\"a\": 1}\n{\"a\": 1e999}\n", "mem.jsonl"), FormatError, "mem.jsonl line 2: not valid JSON");
}

}  // namespace
}  // namespace bipeft::data
