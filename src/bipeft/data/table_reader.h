#pragma once
// Reading the dataset files as users download them: tab-separated files split on tabs only (GLUE has
// stray quote characters, so no CSV quoting), RFC 4180 CSV, and JSON Lines. Every row keeps its
// 1-based line number so errors can say "<file> line <n>: ...". A UTF-8 byte-order mark is skipped
// and blank lines are ignored.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bipeft::data {

enum class TableKind { Tsv, Csv };

struct TableRow {
  int64_t line = 0;                // 1-based line where the row starts
  std::vector<std::string> cells;  // exactly as many as the header (or TableOptions::columns)
};

struct Table {
  std::string path;
  std::vector<std::string> header;  // empty when the file has none
  std::vector<TableRow> rows;

  /// Index of the column named `name`; throws FormatError naming the file and the header found.
  size_t column(const std::string& name) const;
};

struct TableOptions {
  TableKind kind = TableKind::Tsv;
  bool has_header = true;     // first non-blank line names the columns
  size_t columns = 0;         // without a header: the required number of columns
  std::string column_names;   // without a header: what the columns are, for error messages
};

/// Reads a delimited file. Throws IoError when it cannot be read, FormatError naming the file and
/// line when a row has the wrong number of columns, a quote is unterminated, or there are no rows.
Table read_table(const std::string& path, const TableOptions& options);
/// The same for `text` already in memory; `path` names it in errors.
Table parse_table(std::string text, const std::string& path, const TableOptions& options);

struct JsonRow {
  int64_t line = 0;
  nlohmann::json value;  // always an object
};

/// Reads a JSON Lines file (one object per line). Throws IoError when it cannot be read and
/// FormatError naming the file and line for invalid JSON, a non-object line, or no rows at all.
std::vector<JsonRow> read_jsonl(const std::string& path);
/// The same for `text` already in memory; `path` names it in errors.
std::vector<JsonRow> parse_jsonl(std::string text, const std::string& path);

/// "<path> line <n>": the location prefix used in every row-level error message.
std::string row_where(const std::string& path, int64_t line);

}  // namespace bipeft::data
