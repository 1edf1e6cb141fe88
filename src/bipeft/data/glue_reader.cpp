// GLUE readers: the TSV files of the official GLUE download (gluebenchmark.com, download_glue_data.py),
// with columns found by header name where the file has a header. Test files carry no labels and are
// not read (ALGORITHM.md §11.1 builds dev and test from train and validation).
#include <cmath>
#include <functional>
#include <limits>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/prompt.h"
#include "bipeft/data/table_reader.h"
#include "bipeft/data/task_spec.h"
#include "bipeft/io/file_util.h"

namespace bipeft::data {

namespace {

/// Converts each row of a table into one formatted example.
using RowFormatter = std::function<Example(const Table&, const TableRow&)>;

std::vector<RowExamples> convert(const Table& table, const RowFormatter& f) {
  std::vector<RowExamples> rows;
  rows.reserve(table.rows.size());
  for (const auto& r : table.rows) rows.push_back({f(table, r)});
  return rows;
}

/// Reads `path` (with a header) and formats a sentence pair: "<prefix> k1: a k2: b" -> label.
struct PairLayout {
  std::string first, second, label;  // column names
  std::string first_key, second_key;  // prompt keys, punctuation included ("premise:", "hypothesis")
  bool swap_for_t5 = false;           // T5 sorts keys alphabetically (MNLI: hypothesis before premise)
  std::string t5_first_key, t5_second_key;
};

std::vector<RowExamples> read_pairs(const TaskSpec& spec, PromptFormat format, const std::string& path,
                                    const PairLayout& layout,
                                    const std::function<int64_t(const std::string&, const std::string&)>& label_of) {
  Table t = read_table(path, TableOptions{});
  const size_t a = t.column(layout.first), b = t.column(layout.second), y = t.column(layout.label);
  return convert(t, [&](const Table& table, const TableRow& r) {
    const std::string where = row_where(table.path, r.line);
    const int64_t id = label_of(r.cells[y], where);
    std::string source;
    if (format == PromptFormat::T5 && layout.swap_for_t5)
      source = words({spec.prefix(format), layout.t5_first_key, r.cells[b], layout.t5_second_key, r.cells[a]});
    else
      source = words({spec.prefix(format), layout.first_key, r.cells[a], layout.second_key, r.cells[b]});
    return make_example(std::move(source), spec.target(format, id));
  });
}

/// Label given as a class id "0"/"1" in the file.
std::function<int64_t(const std::string&, const std::string&)> id_label(size_t num_classes) {
  return [num_classes](const std::string& value, const std::string& where) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < num_classes; ++i) ids.push_back(std::to_string(i));
    return class_index(trim(value), ids, where);
  };
}

/// Label given as a class name ("entailment") in the file.
std::function<int64_t(const std::string&, const std::string&)> name_label(std::vector<std::string> names) {
  return [names = std::move(names)](const std::string& value, const std::string& where) {
    return class_index(trim(value), names, where);
  };
}

std::string expected_layout(const std::string& task, const std::string& files) {
  return "the GLUE " + task + " folder with " + files;
}

RawTask read_cola(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  // GLUE layout: train.tsv/dev.tsv; original CoLA layout (cola_public/raw or the folder itself):
  // in_domain_train.tsv, in_domain_dev.tsv (+ out_of_domain_dev.tsv). No header, 4 columns.
  std::string base = dir;
  if (!io::is_file(dir + "/train.tsv") && io::is_file(dir + "/raw/in_domain_train.tsv")) base = dir + "/raw";
  const std::string expected =
      expected_layout("CoLA", "train.tsv and dev.tsv, or in_domain_train.tsv and in_domain_dev.tsv "
                              "(+ out_of_domain_dev.tsv)");
  std::vector<std::string> train_files, dev_files;
  if (io::is_file(base + "/train.tsv")) {
    train_files = {require_file(base, "train.tsv", expected)};
    dev_files = {require_file(base, "dev.tsv", expected)};
  } else {
    train_files = {require_file(base, "in_domain_train.tsv", expected)};
    dev_files = {require_file(base, "in_domain_dev.tsv", expected)};
    if (io::is_file(base + "/out_of_domain_dev.tsv")) dev_files.push_back(base + "/out_of_domain_dev.tsv");
  }
  TableOptions opts;
  opts.has_header = false;
  opts.columns = 4;
  opts.column_names = "source, label, original label, sentence";
  auto label_of = id_label(2);
  auto read = [&](const std::vector<std::string>& files) {
    std::vector<RowExamples> out;
    for (const auto& f : files) {
      auto rows = convert(read_table(f, opts), [&](const Table& t, const TableRow& r) {
        const int64_t id = label_of(r.cells[1], row_where(t.path, r.line));
        return make_example(words({spec.prefix(format), "sentence:", r.cells[3]}), spec.target(format, id));
      });
      out.insert(out.end(), rows.begin(), rows.end());
    }
    return out;
  };
  RawTask raw;
  raw.train = read(train_files);
  raw.validation = read(dev_files);
  return raw;
}

RawTask read_sst2(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  const std::string expected = expected_layout("SST-2", "train.tsv and dev.tsv (header: sentence, label)");
  auto label_of = id_label(2);
  auto read = [&](const std::string& path) {
    Table t = read_table(path, TableOptions{});
    const size_t s = t.column("sentence"), y = t.column("label");
    return convert(t, [&](const Table& table, const TableRow& r) {
      const int64_t id = label_of(r.cells[y], row_where(table.path, r.line));
      return make_example(words({spec.prefix(format), "sentence:", r.cells[s]}), spec.target(format, id));
    });
  };
  RawTask raw;
  raw.train = read(require_file(dir, "train.tsv", expected));
  raw.validation = read(require_file(dir, "dev.tsv", expected));
  return raw;
}

RawTask read_stsb(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  const std::string expected =
      expected_layout("STS-B", "train.tsv and dev.tsv (header: index genre filename year old_index source1 "
                               "source2 sentence1 sentence2 score)");
  auto read = [&](const std::string& path) {
    Table t = read_table(path, TableOptions{});
    const size_t a = t.column("sentence1"), b = t.column("sentence2"), y = t.column("score");
    return convert(t, [&](const Table& table, const TableRow& r) {
      double score = 0;
      if (!parse_number(r.cells[y], score))
        throw FormatError(row_where(table.path, r.line) + ": score '" + r.cells[y] + "' is not a number");
      if (std::fabs(score) > std::numeric_limits<float>::max())  // float32 labels, as HF stores them
        throw FormatError(row_where(table.path, r.line) + ": score '" + r.cells[y] + "' is out of range");
      const float label = static_cast<float>(score);
      std::string target = format == PromptFormat::Paper ? stsb_paper_target(label) : stsb_t5_target(label);
      return make_example(words({spec.prefix(format), "sentence1:", r.cells[a], "sentence2:", r.cells[b]}),
                          std::move(target));
    });
  };
  RawTask raw;
  raw.train = read(require_file(dir, "train.tsv", expected));
  raw.validation = read(require_file(dir, "dev.tsv", expected));
  return raw;
}

}  // namespace

RawTask read_glue_task(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  if (spec.name == "cola") return read_cola(spec, dir, format);
  if (spec.name == "sst2") return read_sst2(spec, dir, format);
  if (spec.name == "stsb") return read_stsb(spec, dir, format);

  RawTask raw;
  auto read_both = [&](const std::string& expected, const PairLayout& layout, const auto& label_of) {
    raw.train = read_pairs(spec, format, require_file(dir, "train.tsv", expected), layout, label_of);
    raw.validation = read_pairs(spec, format, require_file(dir, "dev.tsv", expected), layout, label_of);
  };
  if (spec.name == "mrpc") {
    read_both(expected_layout("MRPC", "train.tsv and dev.tsv (header: Quality #1 ID #2 ID #1 String #2 String)"),
              {"#1 String", "#2 String", "Quality", "sentence1:", "sentence2:", false, "", ""}, id_label(2));
  } else if (spec.name == "qqp") {
    read_both(expected_layout("QQP", "train.tsv and dev.tsv (header: id qid1 qid2 question1 question2 is_duplicate)"),
              {"question1", "question2", "is_duplicate", "question1:", "question2:", false, "", ""}, id_label(2));
  } else if (spec.name == "qnli") {
    read_both(expected_layout("QNLI", "train.tsv and dev.tsv (header: index question sentence label)"),
              {"question", "sentence", "label", "question:", "sentence:", false, "", ""}, name_label(spec.t5_labels));
  } else if (spec.name == "rte") {
    read_both(expected_layout("RTE", "train.tsv and dev.tsv (header: index sentence1 sentence2 label)"),
              {"sentence1", "sentence2", "label", "sentence1:", "sentence2:", false, "", ""}, name_label(spec.t5_labels));
  } else if (spec.name == "wnli") {
    read_both(expected_layout("WNLI", "train.tsv and dev.tsv (header: index sentence1 sentence2 label)"),
              {"sentence1", "sentence2", "label", "sentence1:", "sentence2:", false, "", ""}, id_label(2));
  } else if (spec.name == "mnli") {
    const std::string expected = expected_layout(
        "MNLI", "train.tsv, dev_matched.tsv and dev_mismatched.tsv (header with sentence1, sentence2, gold_label)");
    // Paper: "mnli premise: {p} hypothesis {h}" (no colon, ALGORITHM.md §11.2); T5: hypothesis first.
    PairLayout layout{"sentence1", "sentence2", "gold_label", "premise:", "hypothesis", true, "hypothesis:",
                      "premise:"};
    auto label_of = name_label(spec.t5_labels);
    raw.train = read_pairs(spec, format, require_file(dir, "train.tsv", expected), layout, label_of);
    raw.validation = read_pairs(spec, format, require_file(dir, "dev_matched.tsv", expected), layout, label_of);
    raw.validation_mismatched =
        read_pairs(spec, format, require_file(dir, "dev_mismatched.tsv", expected), layout, label_of);
  } else {
    throw ConfigError("task '" + spec.name + "' is not a GLUE task");
  }
  return raw;
}

}  // namespace bipeft::data
