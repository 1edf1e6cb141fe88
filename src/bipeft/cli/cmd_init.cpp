// bipeft init: writes a randomly initialised T5 (HF layout: config.json, model.safetensors,
// spiece.model) of a chosen shape: the starting point of `bipeft pretrain`, demos and benchmarks.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/io/file_util.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/text/tokenizer.h"

namespace bipeft::cli {

Command add_init_command(CLI::App& root) {
  struct Opts {
    std::string out, spiece, ffn = "relu";
    int64_t d_model = 256, d_kv = 32, d_ff = 1024, layers = 4, decoder_layers = -1, heads = 8, vocab = 32128;
    double dropout = 0.1;
    bool untied = false, overwrite = false;
    uint64_t seed = 42;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("init", "Write a randomly initialised T5 model folder (HF layout)");
  app->add_option("--out", o->out, "Output model folder")->required();
  app->add_option("--spiece", o->spiece, "SentencePiece model to ship with it (e.g. examples/spiece.model)")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--d-model", o->d_model, "Hidden size")->check(whole_number(1))->capture_default_str();
  app->add_option("--d-kv", o->d_kv, "Per-head size")->check(whole_number(1))->capture_default_str();
  app->add_option("--d-ff", o->d_ff, "Feed-forward size")->check(whole_number(1))->capture_default_str();
  app->add_option("--layers", o->layers, "Encoder blocks")->check(whole_number(1))->capture_default_str();
  app->add_option("--decoder-layers", o->decoder_layers, "Decoder blocks (default: = --layers)")->check(whole_number(1));
  app->add_option("--heads", o->heads, "Attention heads")->check(whole_number(1))->capture_default_str();
  app->add_option("--vocab", o->vocab, "Vocabulary rows (>= the tokenizer's 32100 for T5)")
      ->check(whole_number(1))
      ->capture_default_str();
  app->add_option("--ffn", o->ffn, "Feed-forward: relu (T5 v1.0) or gated-gelu (T5 v1.1)")
      ->check(CLI::IsMember({"relu", "gated-gelu"}))
      ->capture_default_str();
  app->add_flag("--untied", o->untied, "Separate lm_head (T5 v1.1 style) instead of tied embeddings");
  app->add_option("--dropout", o->dropout, "dropout_rate in config.json")->capture_default_str();
  app->add_option("--seed", o->seed, "Initialisation seed")->check(seed_number())->capture_default_str();
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out");
  return {app, [o]() {
            auto tok = text::Tokenizer::from_file(o->spiece);
            if (o->vocab < tok.vocab_size())
              throw ConfigError("--vocab " + std::to_string(o->vocab) + " is smaller than the tokenizer's " +
                                std::to_string(tok.vocab_size()) + " ids");
            if (!(o->dropout >= 0.0 && o->dropout < 1.0)) {
              char value[32];
              std::snprintf(value, sizeof value, "%g", o->dropout);
              throw ConfigError(std::string("--dropout ") + value + " must be in [0, 1)");
            }
            model::T5Config c;
            c.vocab_size = o->vocab;
            c.d_model = o->d_model;
            c.d_kv = o->d_kv;
            c.d_ff = o->d_ff;
            c.num_layers = o->layers;
            c.num_decoder_layers = o->decoder_layers > 0 ? o->decoder_layers : o->layers;
            c.num_heads = o->heads;
            c.dropout_rate = o->dropout;
            c.gated_ffn = o->ffn == "gated-gelu";
            c.activation = c.gated_ffn ? model::Activation::GeluNew : model::Activation::Relu;
            c.tie_word_embeddings = !o->untied;
            try {
              c.validate();
            } catch (const ConfigError& e) {
              throw ConfigError(std::string("model shape: ") + e.what());
            }
            prepare_output_dir(o->out, o->overwrite);
            model::T5Model m(c);
            m->init_weights_(o->seed);
            model::save_t5(*m, o->out);
            io::write_file_atomic((std::filesystem::path(o->out) / "spiece.model").string(), io::read_file(o->spiece));
            std::cerr << "bipeft init: wrote " << o->out << " (" << human_count(static_cast<double>(m->num_parameters()))
                      << " parameters, " << c.feed_forward_proj() << ")\n";
            std::cout << nlohmann::json{{"out", o->out}, {"parameters", m->num_parameters()}}.dump() << std::endl;
            return 0;
          }};
}

}  // namespace bipeft::cli
