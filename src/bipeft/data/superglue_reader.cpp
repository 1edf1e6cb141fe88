// SuperGLUE readers: train.jsonl and val.jsonl of the official download (super.gluebenchmark.com),
// interpreted as HF/TFDS `super_glue` does (MultiRC: one example per answer; ReCoRD: entities and
// answers as sorted sets; WSC: the `wsc.fixed` span repair). test.jsonl has no labels and is not read.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>

#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/data/prompt.h"
#include "bipeft/data/table_reader.h"
#include "bipeft/data/task_spec.h"
#include "bipeft/io/json_util.h"

namespace bipeft::data {

namespace {

using nlohmann::json;

std::string str(const json& j, const std::string& key, const std::string& where) {
  return io::json_required<std::string>(j, key, where);
}

/// A true/false label: JSON true/false, or 0/1 as some re-distributions write it.
int64_t bool_label(const json& j, const std::string& where) {
  auto it = j.find("label");
  if (it == j.end() || it->is_null()) throw FormatError(where + ": missing field 'label'");
  if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
  if (it->is_number_integer() && (it->get<int64_t>() == 0 || it->get<int64_t>() == 1)) return it->get<int64_t>();
  throw FormatError(where + ": field 'label' must be true or false, found " + it->dump());
}

/// A label given by class name ("entailment").
int64_t name_label(const json& j, const std::vector<std::string>& names, const std::string& where) {
  return class_index(str(j, "label", where), names, where);
}

/// WSC span index (a word position). Negative is an error; past the last word it is clamped to the text's
/// byte length, which is still past the last word, so marking leaves the text unchanged as in HF, and
/// the "+2" below cannot overflow.
int64_t word_index(const json& target, const std::string& key, const std::string& text, const std::string& where) {
  const auto i = io::json_required<int64_t>(target, key, where);
  if (i < 0) throw FormatError(where + ": " + key + " " + std::to_string(i) + " is negative; it counts words from 0");
  return std::min<int64_t>(i, static_cast<int64_t>(text.size()));
}

/// One RowExamples per JSON line.
using LineFormatter = std::function<RowExamples(const json&, const std::string& where)>;

std::vector<RowExamples> read_rows(const std::string& path, const LineFormatter& f) {
  std::vector<RowExamples> out;
  for (const auto& row : read_jsonl(path)) out.push_back(f(row.value, row_where(path, row.line)));
  return out;
}

/// MultiRC: one row per answer; group = running question number within the file.
std::vector<RowExamples> read_multirc(const TaskSpec& spec, PromptFormat format, const std::string& path) {
  std::vector<RowExamples> out;
  int64_t question_id = 0;
  for (const auto& row : read_jsonl(path)) {
    const std::string where = row_where(path, row.line);
    const json passage = io::json_required<json>(row.value, "passage", where);
    const std::string paragraph = remove_multirc_markup(str(passage, "text", where + " passage"));
    const json questions = io::json_required<json>(passage, "questions", where + " passage");
    if (!questions.is_array()) throw FormatError(where + ": 'passage.questions' must be a list");
    for (size_t qi = 0; qi < questions.size(); ++qi) {
      const std::string qwhere = where + " question " + std::to_string(qi);
      const std::string question = remove_multirc_markup(str(questions[qi], "question", qwhere));
      const json answers = io::json_required<json>(questions[qi], "answers", qwhere);
      if (!answers.is_array()) throw FormatError(qwhere + ": 'answers' must be a list");
      for (size_t ai = 0; ai < answers.size(); ++ai) {
        const std::string awhere = qwhere + " answer " + std::to_string(ai);
        const std::string answer = remove_multirc_markup(str(answers[ai], "text", awhere));
        const int64_t id = bool_label(answers[ai], awhere);
        out.push_back({make_example(
            words({spec.prefix(format), "question:", question, "answer:", answer, "paragraph:", paragraph}),
            spec.target(format, id), question_id)});
      }
      ++question_id;
    }
  }
  return out;
}

/// ReCoRD: one row per query, expanded into one example per gold answer (target "<unk>" without any).
std::vector<RowExamples> read_record(const TaskSpec& spec, PromptFormat format, const std::string& path) {
  std::vector<RowExamples> out;
  int64_t query_id = 0;
  for (const auto& row : read_jsonl(path)) {
    const std::string where = row_where(path, row.line);
    const json passage = io::json_required<json>(row.value, "passage", where);
    const std::string text = str(passage, "text", where + " passage");
    const json entities = io::json_required<json>(passage, "entities", where + " passage");
    if (!entities.is_array()) throw FormatError(where + ": 'passage.entities' must be a list");
    std::set<std::string> entity_set;
    for (const auto& e : entities) {
      const auto start = io::json_required<int64_t>(e, "start", where + " entity");
      const auto end = io::json_required<int64_t>(e, "end", where + " entity");  // inclusive
      // end + 1 without overflow: utf8_slice rejects the clamped range all the same.
      entity_set.insert(utf8_slice(text, start, std::min<int64_t>(end, INT64_MAX - 1) + 1, where + " entity"));
    }
    const std::string entity_list = join(std::vector<std::string>(entity_set.begin(), entity_set.end()), ", ");
    const std::string body = record_passage(text);
    const json qas = io::json_required<json>(row.value, "qas", where);
    if (!qas.is_array()) throw FormatError(where + ": 'qas' must be a list");
    for (size_t qi = 0; qi < qas.size(); ++qi) {
      const std::string qwhere = where + " query " + std::to_string(qi);
      const std::string query = str(qas[qi], "query", qwhere);
      std::set<std::string> answer_set;
      const json answers = io::json_optional<json>(qas[qi], "answers", json::array(), qwhere);
      if (!answers.is_array()) throw FormatError(qwhere + ": 'answers' must be a list");
      for (const auto& a : answers) answer_set.insert(str(a, "text", qwhere + " answer"));
      std::vector<std::string> gold(answer_set.begin(), answer_set.end());
      std::string source = "record query: " + query + " entities: " + entity_list + " passage: " + body;
      if (format == PromptFormat::Paper) source = spec.paper_prefix + " " + source;
      RowExamples examples;
      for (const auto& answer : gold) {
        Example e = make_example(source, answer, query_id);
        e.answers = gold;
        examples.push_back(std::move(e));
      }
      if (gold.empty()) {
        Example e = make_example(source, "<unk>", query_id);
        e.answers.clear();
        examples.push_back(std::move(e));
      }
      out.push_back(std::move(examples));
      ++query_id;
    }
  }
  return out;
}

LineFormatter line_formatter(const TaskSpec& spec, PromptFormat format) {
  const std::string prefix = spec.prefix(format);
  const bool paper = format == PromptFormat::Paper;
  auto one = [&spec, format](std::string source, int64_t id) {
    return RowExamples{make_example(std::move(source), spec.target(format, id))};
  };
  if (spec.name == "boolq")
    return [=](const json& j, const std::string& w) {
      const auto q = str(j, "question", w), p = str(j, "passage", w);
      return one(paper ? words({prefix, "question:", q, "passage:", p}) : words({prefix, "passage:", p, "question:", q}),
                 bool_label(j, w));
    };
  if (spec.name == "cb" || spec.name == "superglue-rte")
    return [=, &spec](const json& j, const std::string& w) {
      const auto p = str(j, "premise", w), h = str(j, "hypothesis", w);
      return one(paper ? words({prefix, "premise:", p, "hypothesis:", h})
                       : words({prefix, "hypothesis:", h, "premise:", p}),
                 name_label(j, spec.t5_labels, w));
    };
  if (spec.name == "copa")
    return [=](const json& j, const std::string& w) {
      const auto p = str(j, "premise", w), c1 = str(j, "choice1", w), c2 = str(j, "choice2", w);
      const auto q = str(j, "question", w);
      const auto label = io::json_required<int64_t>(j, "label", w);
      if (label != 0 && label != 1) throw FormatError(w + ": field 'label' must be 0 or 1, found " + std::to_string(label));
      // The paper format (S3Delta) leaves out the question (cause/effect); T5 sorts all four keys.
      return one(paper ? words({prefix, "premise:", p, "choice1:", c1, "choice2:", c2})
                       : words({prefix, "choice1:", c1, "choice2:", c2, "premise:", p, "question:", q}),
                 label);
    };
  if (spec.name == "wic")
    return [=](const json& j, const std::string& w) {
      return one(words({prefix, "sentence1:", str(j, "sentence1", w), "sentence2:", str(j, "sentence2", w), "word:",
                        str(j, "word", w)}),
                 bool_label(j, w));
    };
  if (spec.name == "wsc")
    return [=](const json& j, const std::string& w) {
      const std::string text = str(j, "text", w);
      const json target = io::json_required<json>(j, "target", w);
      const std::string tw = w + " target";
      const int64_t i1 = word_index(target, "span1_index", text, tw);
      const int64_t i2 = word_index(target, "span2_index", text, tw);
      const std::string s1 = wsc_fix_span(text, str(target, "span1_text", tw), i1);
      const std::string s2 = wsc_fix_span(text, str(target, "span2_text", tw), i2);
      std::string marked = wsc_mark_span(text, s1, i1, '*');
      // The noun mark added two words before the pronoun when the noun comes first.
      marked = wsc_mark_span(marked, s2, i2 + (i1 < i2 ? 2 : 0), '#');
      return one(words({prefix, "text:", marked}), bool_label(j, w));
    };
  throw ConfigError("task '" + spec.name + "' is not a SuperGLUE task");
}

}  // namespace

RawTask read_superglue_task(const TaskSpec& spec, const std::string& dir, PromptFormat format) {
  static const std::vector<std::pair<std::string, std::string>> kFolders = {
      {"boolq", "BoolQ"}, {"cb", "CB"},           {"copa", "COPA"}, {"multirc", "MultiRC"},
      {"record", "ReCoRD"}, {"superglue-rte", "RTE"}, {"wic", "WiC"}, {"wsc", "WSC"}};
  std::string folder = spec.name;
  for (const auto& [name, official] : kFolders)
    if (name == spec.name) folder = official;
  const std::string expected = "the SuperGLUE " + folder + " folder with train.jsonl and val.jsonl";
  const std::string train = require_file(dir, "train.jsonl", expected);
  const std::string val = require_file(dir, "val.jsonl", expected);
  RawTask raw;
  if (spec.name == "multirc") {
    raw.train = read_multirc(spec, format, train);
    raw.validation = read_multirc(spec, format, val);
  } else if (spec.name == "record") {
    raw.train = read_record(spec, format, train);
    raw.validation = read_record(spec, format, val);
  } else {
    const LineFormatter f = line_formatter(spec, format);
    raw.train = read_rows(train, f);
    raw.validation = read_rows(val, f);
  }
  return raw;
}

}  // namespace bipeft::data
