#pragma once
// In-memory tiny models and an event recorder shared by the trainer and search tests.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/text/tokenizer.h"
#include "test_util.h"

namespace bipeft::test {

/// Keeps every event a run writes.
class RecordingSink : public EventSink {
 public:
  void write(const nlohmann::json& e) override { events.push_back(e); }
  std::vector<nlohmann::json> events;
};

/// Raises a stop flag once `at` units of `task` are done (what SIGINT does in the CLI).
class StopAfter : public ProgressSink {
 public:
  StopAfter(std::atomic<bool>* flag, std::string task, int64_t at) : flag_(flag), task_(std::move(task)), at_(at) {}
  void update(const ProgressUpdate& u) override {
    if (u.task == task_ && u.done >= at_) flag_->store(true);
  }
  void finish(const std::string&) override {}

 private:
  std::atomic<bool>* flag_;
  std::string task_;
  int64_t at_;
};

/// A 2+2-layer T5 v1.0 with d_model 32 and the real T5 vocabulary size, no dropout, seeded weights.
inline model::T5Model tiny_t5_with_real_vocab(uint64_t seed) {
  model::T5Config c;
  c.vocab_size = 32128;
  c.d_model = 32;
  c.d_kv = 8;
  c.d_ff = 64;
  c.num_layers = c.num_decoder_layers = 2;
  c.num_heads = 4;
  c.dropout_rate = 0.0;
  model::T5Model m(c);
  m->init_weights_(seed);
  return m;
}

/// The examples' sentencepiece model (the real T5 vocabulary).
inline text::Tokenizer example_tokenizer() { return text::Tokenizer::from_file(source_path("examples/spiece.model")); }

/// The shipped SST-2 sample (examples/data/sst2).
inline data::TaskData sst2_sample() {
  return data::load_task("sst2", source_path("examples/data/sst2"), data::TaskOptions{});
}

}  // namespace bipeft::test
