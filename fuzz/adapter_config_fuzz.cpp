// adapter_config.json of a Hugging Face PEFT adapter: HfPeftConfig::parse, then the matching rules
// (target_modules, rank_pattern, alpha_pattern) asked about real T5 module names.
#include <cmath>

#include "bipeft/export/hf_peft_config.h"
#include "fuzz_common.h"

using namespace bipeft;

namespace {

const char* const kModules[] = {
    "encoder.block.0.layer.0.SelfAttention.q", "encoder.block.0.layer.0.SelfAttention.v",
    "decoder.block.1.layer.1.EncDecAttention.k", "decoder.block.0.layer.2.DenseReluDense.wi_0",
    "encoder.block.11.layer.1.DenseReluDense.wo", "decoder.final_layer_norm", "lm_head"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_project_errors([&] {
    const auto c = exporter::HfPeftConfig::parse(fuzz::as_string(data, size), "adapter_config.json");
    fuzz::require(!c.peft_type.empty(), "peft_type is set");
    if (c.peft_type != "LORA") return;
    fuzz::require(c.r >= 1, "r >= 1");
    for (const char* m : kModules) {
      c.targets(m);
      fuzz::require(c.rank_of(m) >= 1, "ranks are >= 1");
      const double s = c.scaling_of(m);
      (void)s;
      c.alpha_of(m);
    }
  });
  return 0;
}
