// bipeft logits --model DIR [--adapter DIR] --inputs IN.safetensors --out OUT.safetensors [--greedy N]
#include <filesystem>
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/cli/number_checks.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/export/adapter_loader.h"
#include "bipeft/io/file_util.h"
#include "bipeft/io/safetensors.h"
#include "bipeft/model/generate.h"
#include "bipeft/model/t5_weights.h"

namespace bipeft::cli {

namespace {

at::Tensor ids_tensor(const io::SafetensorsReader& in, const std::string& name, bool required) {
  if (!in.contains(name)) {
    if (required) throw FormatError(in.label() + ": missing tensor '" + name + "' (int64 [batch, length])");
    return {};
  }
  auto t = in.load(name);
  if (t.dim() != 2)
    throw ShapeError(in.label() + ": '" + name + "' must be 2-D [batch, length], found " + shape_str(t.sizes().vec()));
  if (t.scalar_type() != at::kLong && t.scalar_type() != at::kInt)
    throw FormatError(in.label() + ": '" + name + "' must hold integers (I64), found " + std::string(c10::toString(t.scalar_type())));
  return t.to(at::kLong);
}

}  // namespace

Command add_logits_command(CLI::App& root) {
  struct Opts {
    std::string model, adapter, inputs, out;
    int64_t greedy = 0;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand(
      "logits", "Run the model on token ids from a safetensors file; write logits, encoder states, greedy ids");
  add_model_option(*app, o->model);
  app->add_option("--adapter", o->adapter,
                  "Adapter folder applied to the model: bipeft native (structure.json) or Hugging Face PEFT "
                  "(adapter_config.json; LoRA, plus LN tuning in ln_tuning/)")
      ->check(CLI::ExistingDirectory);
  app->add_option("--inputs", o->inputs, "safetensors with int64 input_ids, attention_mask, decoder_input_ids")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--out", o->out, "Output safetensors: float32 logits, encoder_last_hidden_state[, greedy_ids]")
      ->required();
  app->add_option("--greedy", o->greedy, "Also decode greedily, at most N new tokens (output starts with the start token)")
      ->check(whole_number(0, 4096));
  add_runtime_options(*app, o->rt, /*with_seed=*/false);
  return {app, [o]() {
            // An unusable --out fails now, not after loading the model and running it.
            if (io::is_dir(o->out)) throw ConfigError("--out " + o->out + " is a folder; give a .safetensors file path");
            const auto parent = std::filesystem::path(o->out).parent_path();
            if (!parent.empty() && !io::is_dir(parent.string()))
              throw IoError("--out " + o->out + ": " + parent.string() + " is not an existing folder");
            auto ctx = make_run_context(o->rt, "logits");
            auto in = io::SafetensorsReader::open(o->inputs);
            auto input_ids = ids_tensor(in, "input_ids", true);
            auto mask = ids_tensor(in, "attention_mask", false);
            auto dec = ids_tensor(in, "decoder_input_ids", false);
            if (!mask.defined()) mask = at::ones_like(input_ids);
            if (mask.sizes() != input_ids.sizes())
              throw ShapeError(o->inputs + ": attention_mask " + shape_str(mask.sizes().vec()) + " differs from input_ids " +
                               shape_str(input_ids.sizes().vec()));
            auto m = load_backbone(o->model, ctx);
            // Kept alive until the end: the adapter's modules stay attached to the model while it exists.
            peft::PeftModel adapter(nullptr);
            if (!o->adapter.empty()) {
              adapter = exporter::load_adapter(m, o->adapter);
              adapter->train(false);
              ctx.info("adapter " + o->adapter + ": " + std::to_string(adapter->modules.size()) + " module(s)");
            }
            const auto V = m->config.vocab_size;
            if (input_ids.numel() > 0 && (input_ids.min().item<int64_t>() < 0 || input_ids.max().item<int64_t>() >= V))
              throw FormatError(o->inputs + ": input_ids outside the vocabulary [0, " + std::to_string(V) + ")");
            if (!dec.defined()) dec = at::full({input_ids.size(0), 1}, m->config.decoder_start_token_id, at::kLong);
            if (dec.size(0) != input_ids.size(0))
              throw ShapeError(o->inputs + ": decoder_input_ids batch " + std::to_string(dec.size(0)) +
                               " differs from input_ids batch " + std::to_string(input_ids.size(0)));
            if (dec.numel() > 0 && (dec.min().item<int64_t>() < 0 || dec.max().item<int64_t>() >= V))
              throw FormatError(o->inputs + ": decoder_input_ids outside the vocabulary");
            torch::NoGradGuard ng;
            auto dev = ctx.device;
            auto out = m->forward(input_ids.to(dev), mask.to(dev), dec.to(dev));
            io::NamedTensors result{{"logits", out.logits.to(at::kFloat).cpu()},
                                    {"encoder_last_hidden_state", out.encoder_hidden.to(at::kFloat).cpu()}};
            if (o->greedy > 0)
              result.emplace_back("greedy_ids", model::greedy_generate(*m, input_ids.to(dev), mask.to(dev), o->greedy).cpu());
            io::save_safetensors(o->out, result);
            ctx.info("wrote " + o->out);
            return 0;
          }};
}

}  // namespace bipeft::cli
