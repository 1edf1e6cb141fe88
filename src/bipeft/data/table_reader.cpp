#include "bipeft/data/table_reader.h"

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/xz.h"
#include "bipeft/io/json_util.h"

namespace bipeft::data {

namespace {

std::string without_bom(std::string text) {
  if (starts_with(text, "\xEF\xBB\xBF")) text.erase(0, 3);
  return text;
}

/// Splits into lines (without '\n' or a trailing '\r'), keeping 1-based numbers.
template <typename F>
void for_each_line(const std::string& text, F&& f) {
  size_t pos = 0;
  int64_t line = 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    size_t len = end - pos;
    if (len > 0 && text[pos + len - 1] == '\r') --len;
    f(line, std::string_view(text).substr(pos, len));
    pos = end + 1;
    ++line;
  }
}

bool blank(std::string_view s) { return trim(s).empty(); }

struct RawRow {
  int64_t line;
  std::vector<std::string> cells;
};

std::vector<RawRow> split_tsv(const std::string& text) {
  std::vector<RawRow> rows;
  for_each_line(text, [&](int64_t line, std::string_view s) {
    if (!blank(s)) rows.push_back({line, split(s, '\t')});
  });
  return rows;
}

std::vector<RawRow> split_csv(const std::string& text, const std::string& path) {
  std::vector<RawRow> rows;
  std::vector<std::string> cells;
  std::string cell;
  bool in_quotes = false, quoted = false, row_has_content = false;
  int64_t line = 1, row_line = 1;
  auto end_cell = [&]() {
    cells.push_back(std::move(cell));
    cell.clear();
    quoted = false;
  };
  auto end_row = [&]() {
    end_cell();
    const bool empty = cells.size() == 1 && cells[0].empty() && !row_has_content;
    if (!empty) rows.push_back({row_line, std::move(cells)});
    cells.clear();
    row_has_content = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        cell.push_back(c);
      }
      continue;
    }
    if (c == '"' && cell.empty() && !quoted) {
      in_quotes = quoted = row_has_content = true;
    } else if (c == ',') {
      row_has_content = true;
      end_cell();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
      row_line = line;
    } else {
      row_has_content = true;
      cell.push_back(c);
    }
  }
  if (in_quotes)
    throw FormatError(row_where(path, row_line) + ": unterminated quoted field (a '\"' is never closed)");
  if (!cell.empty() || !cells.empty() || row_has_content) end_row();
  return rows;
}

}  // namespace

std::string row_where(const std::string& path, int64_t line) { return path + " line " + std::to_string(line); }

size_t Table::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw FormatError(path + ": missing column '" + name + "' (header has: " + join(header, ", ") + ")");
}

Table read_table(const std::string& path, const TableOptions& options) {
  return parse_table(io::read_text_file(path), path, options);
}

Table parse_table(std::string content, const std::string& path, const TableOptions& options) {
  const std::string text = without_bom(std::move(content));
  std::vector<RawRow> raw = options.kind == TableKind::Tsv ? split_tsv(text) : split_csv(text, path);
  Table table;
  table.path = path;
  size_t first = 0;
  if (options.has_header) {
    if (raw.empty()) throw FormatError(path + ": empty file; expected a header line and at least one row");
    table.header = raw[0].cells;
    for (auto& h : table.header) h = trim(h);
    first = 1;
  }
  const size_t expected = options.has_header ? table.header.size() : options.columns;
  const char* sep = options.kind == TableKind::Tsv ? "tab-separated" : "comma-separated";
  for (size_t i = first; i < raw.size(); ++i) {
    if (expected > 0 && raw[i].cells.size() != expected) {
      std::string what = options.has_header ? "as in the header (" + join(table.header, ", ") + ")"
                                            : "(" + options.column_names + ")";
      throw FormatError(row_where(path, raw[i].line) + ": expected " + std::to_string(expected) + " " + sep +
                        " columns " + what + ", found " + std::to_string(raw[i].cells.size()));
    }
    table.rows.push_back({raw[i].line, std::move(raw[i].cells)});
  }
  if (table.rows.empty())
    throw FormatError(path + (options.has_header ? ": no examples (only a header line)" : ": no examples (empty file)"));
  return table;
}

std::vector<JsonRow> read_jsonl(const std::string& path) { return parse_jsonl(io::read_text_file(path), path); }

std::vector<JsonRow> parse_jsonl(std::string content, const std::string& path) {
  const std::string text = without_bom(std::move(content));
  std::vector<JsonRow> rows;
  for_each_line(text, [&](int64_t line, std::string_view s) {
    if (blank(s)) return;
    auto where = row_where(path, line);
    auto j = io::parse_json(std::string(s), where);
    if (!j.is_object()) throw FormatError(where + ": expected a JSON object, found " + io::json_type_name(j));
    rows.push_back({line, std::move(j)});
  });
  if (rows.empty()) throw FormatError(path + ": no examples (empty file)");
  return rows;
}

}  // namespace bipeft::data
