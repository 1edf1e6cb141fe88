// Dataset readers. Byte 0 picks a case, byte 1 holds flags (bit 0: T5 format, bit 1: custom regression),
// and the rest is split at '\x1e' (ASCII record separator) into file contents:
//   cases 0-4   one text through parse_table (TSV/CSV, with and without header) or parse_jsonl;
//   cases 5-21  a GLUE/SuperGLUE task: the parts become train, dev/val (and MNLI's dev_mismatched) in a
//               temporary folder read by load_task;
//   cases 22-24 a custom task (.jsonl/.csv/.tsv) with fields question,passage and label "label"; a third
//               part becomes the test file.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "bipeft/core/strings.h"
#include "bipeft/data/table_reader.h"
#include "bipeft/data/task.h"
#include "fuzz_common.h"

using namespace bipeft;

namespace {

namespace fs = std::filesystem;

struct TaskCase {
  const char* task;
  std::vector<const char*> files;  // names of the parts, in order
};

const std::vector<TaskCase>& task_cases() {
  static const std::vector<TaskCase> cases = {
      {"cola", {"train.tsv", "dev.tsv"}},     {"sst2", {"train.tsv", "dev.tsv"}},
      {"mrpc", {"train.tsv", "dev.tsv"}},     {"qqp", {"train.tsv", "dev.tsv"}},
      {"stsb", {"train.tsv", "dev.tsv"}},     {"mnli", {"train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"}},
      {"qnli", {"train.tsv", "dev.tsv"}},     {"rte", {"train.tsv", "dev.tsv"}},
      {"wnli", {"train.tsv", "dev.tsv"}},     {"boolq", {"train.jsonl", "val.jsonl"}},
      {"cb", {"train.jsonl", "val.jsonl"}},   {"copa", {"train.jsonl", "val.jsonl"}},
      {"multirc", {"train.jsonl", "val.jsonl"}}, {"record", {"train.jsonl", "val.jsonl"}},
      {"superglue-rte", {"train.jsonl", "val.jsonl"}}, {"wic", {"train.jsonl", "val.jsonl"}},
      {"wsc", {"train.jsonl", "val.jsonl"}},
      {"custom", {"train.jsonl", "dev.jsonl", "test.jsonl"}},
      {"custom", {"train.csv", "dev.csv", "test.csv"}},
      {"custom", {"train.tsv", "dev.tsv", "test.tsv"}}};
  return cases;
}

constexpr int kRawCases = 5;

fs::path* g_dir = nullptr;

void remove_dir() {
  std::error_code ec;
  if (g_dir != nullptr) fs::remove_all(*g_dir, ec);
}

void raw_case(int which, const std::string& text) {
  data::TableOptions o;
  switch (which) {
    case 0: break;  // TSV with header
    case 1: o.kind = data::TableKind::Csv; break;
    case 2: o.has_header = false; o.columns = 4; o.column_names = "a, b, c, d"; break;
    case 3: o.kind = data::TableKind::Csv; o.has_header = false; o.columns = 2; o.column_names = "a, b"; break;
    default: {
      for (const auto& row : data::parse_jsonl(text, "fuzz.jsonl"))
        fuzz::require(row.value.is_object() && row.line >= 1, "JSONL rows are objects with a line number");
      return;
    }
  }
  const auto t = data::parse_table(text, "fuzz.txt", o);
  const size_t width = o.has_header ? t.header.size() : o.columns;
  fuzz::require(!t.rows.empty(), "a table has rows");
  for (const auto& r : t.rows) fuzz::require(r.cells.size() == width && r.line >= 1, "rows are as wide as the table");
}

void task_case(const TaskCase& c, uint8_t flags, const std::vector<std::string>& parts) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(*g_dir, ec)) fs::remove(entry.path(), ec);
  for (size_t i = 0; i < parts.size() && i < c.files.size(); ++i) {
    std::ofstream out(*g_dir / c.files[i], std::ios::binary);
    out << parts[i];
  }
  data::TaskOptions o;
  o.format = (flags & 1) ? data::PromptFormat::T5 : data::PromptFormat::Paper;
  o.regression = (flags & 2) != 0;
  o.text_fields = {"question", "passage"};
  o.label_field = "label";
  const auto d = data::load_task(c.task, g_dir->string(), o);
  fuzz::require(!d.train.empty() && !d.dev.empty() && !d.test.empty(), "every split has examples");
  fuzz::require(d.search_train.size() == d.train.size() / 2 && d.search_val.size() == d.train.size() / 2,
                "search halves are half of train each");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_torch();
  g_dir = new fs::path(fs::temp_directory_path() / ("bipeft_table_fuzz_" + std::to_string(::getpid())));
  fs::create_directories(*g_dir);
  std::atexit(remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int which = data[0] % (kRawCases + static_cast<int>(task_cases().size()));
  const uint8_t flags = data[1];
  const std::string rest = fuzz::as_string(data + 2, size - 2);
  fuzz::expect_project_errors([&] {
    if (which < kRawCases)
      raw_case(which, rest);
    else
      task_case(task_cases()[which - kRawCases], flags, split(rest, '\x1e'));
  });
  return 0;
}
