// Tasks distributed outside GLUE/SuperGLUE. IMDB (Maas et al. 2011, the 25k/25k labelled reviews):
// train.tsv and test.tsv, or the same compressed as .tsv.xz, header `label rating text`, label 0
// (negative) or 1 (positive). The reviews' "<br />" line breaks become spaces. As a large task
// (ALGORITHM.md §11.1) 2,000 training rows become dev and the test file is the test split.
#include <string>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/prompt.h"
#include "bipeft/data/table_reader.h"
#include "bipeft/data/task_spec.h"
#include "bipeft/io/file_util.h"

namespace bipeft::data {
namespace {

std::string without_html_breaks(std::string text) {
  for (const char* tag : {"<br />", "<br/>", "<br>"}) {
    const std::string t = tag;
    for (size_t at = text.find(t); at != std::string::npos; at = text.find(t, at)) text.replace(at, t.size(), " ");
  }
  return text;
}

std::string task_file(const std::string& dir, const std::string& name, const std::string& expected) {
  const auto plain = io::join_path(dir, name);
  if (io::is_file(plain)) return plain;
  if (io::is_file(plain + ".xz")) return plain + ".xz";
  return require_file(dir, name, expected);  // throws, naming the folder and the expected layout
}

RawTask read_imdb(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  const std::string expected = "IMDB: train.tsv and test.tsv, or train.tsv.xz and test.tsv.xz (header: label rating text)";
  auto read = [&](const std::string& path) {
    Table t = read_table(path, TableOptions{});
    const size_t y = t.column("label"), x = t.column("text");
    std::vector<RowExamples> rows;
    rows.reserve(t.rows.size());
    for (const auto& r : t.rows) {
      const auto& label = r.cells[y];
      if (label != "0" && label != "1")
        throw FormatError(row_where(t.path, r.line) + ": label '" + label + "' is not 0 (negative) or 1 (positive)");
      const std::string text = trim(without_html_breaks(r.cells[x]));
      if (text.empty()) throw FormatError(row_where(t.path, r.line) + ": the review text is empty");
      rows.push_back({make_example(words({spec.prefix(format), "review:", text}), spec.target(format, label == "1"))});
    }
    return rows;
  };
  RawTask raw;
  raw.train = read(task_file(dir, "train.tsv", expected));
  raw.validation = read(task_file(dir, "test.tsv", expected));
  return raw;
}

}  // namespace

RawTask read_standalone_task(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  if (spec.name == "imdb") return read_imdb(spec, dir, format);
  throw ConfigError("no reader for task " + spec.name);
}

}  // namespace bipeft::data
