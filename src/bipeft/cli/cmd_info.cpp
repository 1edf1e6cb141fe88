// bipeft info --model DIR: config summary, parameter count, BLAS and threads.
#include <iostream>

#include "bipeft/cli/command.h"
#include "bipeft/dist/communicator.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/core/strings.h"
#include "bipeft/core/system_info.h"
#include "bipeft/model/t5_weights.h"

namespace bipeft::cli {

Command add_info_command(CLI::App& root) {
  struct Opts {
    std::string model;
    RuntimeOptions rt;
  };
  auto o = std::make_shared<Opts>();
  auto* app = root.add_subcommand("info", "Show a model's configuration, parameter count, BLAS and threads");
  add_model_option(*app, o->model);
  add_runtime_options(*app, o->rt, /*with_seed=*/false);
  return {app, [o]() {
            auto ctx = make_run_context(o->rt, "info");
            auto m = load_backbone(o->model, ctx);
            const auto& c = m->config;
            const int64_t n = m->num_parameters();
            nlohmann::json j = {
                {"model", o->model},
                {"model_type", c.model_type},
                {"feed_forward_proj", c.feed_forward_proj()},
                {"tie_word_embeddings", c.tie_word_embeddings},
                {"d_model", c.d_model},
                {"d_kv", c.d_kv},
                {"d_ff", c.d_ff},
                {"num_heads", c.num_heads},
                {"num_layers", c.num_layers},
                {"num_decoder_layers", c.num_decoder_layers},
                {"vocab_size", c.vocab_size},
                {"dropout_rate", c.dropout_rate},
                {"parameters", n},
                {"parameters_human", human_count(static_cast<double>(n))},
                {"dtype", o->rt.dtype},
                {"device", ctx.device.str()},
                {"blas", blas_library_path()},
                {"blas_is_fast", is_openblas(blas_library_path())},
                {"distributed", dist::has_gloo() ? "c10d gloo" : "none"},
                {"torch", torch_summary()},
            };
            std::cout << j.dump(2) << std::endl;
            if (!is_openblas(blas_library_path())) ctx.warn("BLAS: " + blas_summary());
            return 0;
          }};
}

}  // namespace bipeft::cli
