// Custom tasks: train and dev (and optionally test) files in one of JSONL, CSV or TSV, the extension
// telling which. Sources are "<prefix> field1: text1 field2: text2" (T5 format: fields sorted by name).
// Classification: classes are the distinct labels of all files, sorted numerically when every label is
// an integer, else as strings; targets are class ids (paper) or the label text (t5). Regression
// (--regression): every label must be a number; the target is its shortest text.
#include <algorithm>
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/prompt.h"
#include "bipeft/data/table_reader.h"
#include "bipeft/data/task_spec.h"
#include "bipeft/io/file_util.h"

namespace bipeft::data {

namespace {

struct CustomRow {
  std::string where;
  std::vector<std::string> texts;  // in options.text_fields order
  std::string label;
};

const std::vector<std::string> kExtensions = {"jsonl", "csv", "tsv"};

/// `dir`/`stem`.<ext> for the one extension present; "" when none is and `required` is false.
std::string find_split_file(const std::string& dir, const std::string& stem, bool required) {
  std::vector<std::string> found;
  for (const auto& ext : kExtensions)
    if (io::is_file(dir + "/" + stem + "." + ext)) found.push_back(dir + "/" + stem + "." + ext);
  if (found.size() > 1)
    throw ConfigError(dir + ": several " + stem + " files (" + join(found, ", ") + "); keep exactly one");
  if (found.empty()) {
    if (!required) return "";
    throw IoError(dir + "/" + stem + ".{jsonl,csv,tsv}: missing file; a custom task folder needs train and dev "
                  "files (and optionally test) as .jsonl, .csv or .tsv");
  }
  return found[0];
}

std::string json_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::vector<CustomRow> read_custom_rows(const std::string& path, const TaskOptions& o) {
  std::vector<CustomRow> rows;
  if (ends_with(path, ".jsonl")) {
    for (const auto& r : read_jsonl(path)) {
      CustomRow row;
      row.where = row_where(path, r.line);
      auto field = [&](const std::string& key) {
        auto it = r.value.find(key);
        if (it == r.value.end() || it->is_null())
          throw FormatError(row.where + ": missing field '" + key + "'");
        if (it->is_object() || it->is_array())
          throw FormatError(row.where + ": field '" + key + "' must be text, a number or true/false, found " +
                            it->type_name());
        return json_text(*it);
      };
      for (const auto& f : o.text_fields) row.texts.push_back(field(f));
      row.label = field(o.label_field);
      rows.push_back(std::move(row));
    }
    return rows;
  }
  TableOptions opts;
  opts.kind = ends_with(path, ".csv") ? TableKind::Csv : TableKind::Tsv;
  Table t = read_table(path, opts);
  std::vector<size_t> cols;
  for (const auto& f : o.text_fields) cols.push_back(t.column(f));
  const size_t y = t.column(o.label_field);
  for (const auto& r : t.rows) {
    CustomRow row;
    row.where = row_where(path, r.line);
    for (size_t c : cols) row.texts.push_back(r.cells[c]);
    row.label = trim(r.cells[y]);
    if (row.label.empty()) throw FormatError(row.where + ": empty label in column '" + o.label_field + "'");
    rows.push_back(std::move(row));
  }
  return rows;
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

std::vector<std::string> class_list(const std::vector<const std::vector<CustomRow>*>& files) {
  std::set<std::string> distinct;
  for (const auto* rows : files)
    for (const auto& r : *rows) distinct.insert(r.label);
  std::vector<std::string> classes(distinct.begin(), distinct.end());
  const bool numeric = std::all_of(classes.begin(), classes.end(), [](const std::string& s) {
    return is_integer(s) && s.size() < 18;
  });
  if (numeric)
    std::sort(classes.begin(), classes.end(),
              [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return classes;
}

}  // namespace

RawTask read_custom_task(const std::string& dir, const TaskOptions& o) {
  const std::string train_path = find_split_file(dir, "train", true);
  const std::string dev_path = find_split_file(dir, "dev", true);
  const std::string test_path = find_split_file(dir, "test", false);
  const auto train = read_custom_rows(train_path, o);
  const auto dev = read_custom_rows(dev_path, o);
  const auto test = test_path.empty() ? std::vector<CustomRow>{} : read_custom_rows(test_path, o);

  RawTask raw;
  if (!o.regression) raw.labels = class_list({&train, &dev, &test});
  if (!o.regression && raw.labels.size() < 2)
    throw FormatError(train_path + ": a classification task needs at least 2 distinct labels in '" + o.label_field +
                      "', found " + std::to_string(raw.labels.size()) + " (set TaskOptions.regression for numeric labels)");

  // Field order: as given (paper) or sorted by name (T5's rule, FORMATS.md §C.1).
  std::vector<size_t> order(o.text_fields.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (o.format == PromptFormat::T5)
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return o.text_fields[a] < o.text_fields[b]; });

  auto format_rows = [&](const std::vector<CustomRow>& rows) {
    std::vector<RowExamples> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
      std::vector<std::string> parts = {o.custom_prefix};
      for (size_t i : order) {
        parts.push_back(o.text_fields[i] + ":");
        parts.push_back(r.texts[i]);
      }
      std::string target;
      if (o.regression) {
        double v = 0;
        if (!parse_number(r.label, v))
          throw FormatError(r.where + ": label '" + r.label + "' is not a number (TaskOptions.regression expects numeric labels)");
        target = number_text(v);
      } else {
        const int64_t id = class_index(r.label, raw.labels, r.where);
        target = o.format == PromptFormat::Paper ? std::to_string(id) : r.label;
      }
      out.push_back({make_example(join(parts, " "), std::move(target))});
    }
    return out;
  };
  raw.train = format_rows(train);
  raw.validation = format_rows(dev);
  raw.test = format_rows(test);
  raw.has_test = !test_path.empty();
  return raw;
}

}  // namespace bipeft::data
