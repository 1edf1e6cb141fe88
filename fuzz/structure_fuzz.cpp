// Structure JSON (structure.json of a search): Structure::from_json, checked against the sites of a tiny
// T5; an accepted structure must survive to_json -> from_json. The same input, split into lines, is also
// fed to manual_structure as --method specs ("lora:r=4:targets=q,v").
#include <memory>
#include <vector>

#include "bipeft/core/strings.h"
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/structure.h"
#include "fuzz_common.h"

using namespace bipeft;

namespace {

std::vector<model::SiteInfo>* g_sites = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_torch();
  model::T5Config c;
  c.vocab_size = 32;
  c.d_model = 8;
  c.d_kv = 4;
  c.num_heads = 2;
  c.d_ff = 16;
  c.num_layers = 2;
  c.num_decoder_layers = 1;
  c.gated_ffn = true;
  static model::T5Model backbone(c);  // owns the Site objects the SiteInfo entries point to
  g_sites = new std::vector<model::SiteInfo>(backbone->sites());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz::as_string(data, size);
  fuzz::expect_project_errors([&] {
    const auto s = peft::Structure::from_json(io::parse_json(text, "structure.json"), "structure.json");
    const auto j = s.to_json();
    const auto again = peft::Structure::from_json(j, "round trip");
    fuzz::require(again.modules == s.modules && again.full_finetune == s.full_finetune, "round trip keeps modules");
    fuzz::require(again.to_json() == j, "to_json -> from_json round trip is exact");
    s.validate(*g_sites, "structure.json");
  });
  fuzz::expect_project_errors([&] {
    auto specs = split(text, '\n');
    if (specs.size() > 8) specs.resize(8);
    const auto s = peft::manual_structure(specs, 4, {}, *g_sites);
    s.validate(*g_sites, "--method");
  });
  return 0;
}
