// T5 config.json: JSON text -> T5Config::from_json. An accepted config must validate, and writing it
// with to_json and parsing that again must give the same config.
#include "bipeft/io/json_util.h"
#include "bipeft/model/t5_config.h"
#include "fuzz_common.h"

using namespace bipeft;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_project_errors([&] {
    const auto c = model::T5Config::from_json(io::parse_json(fuzz::as_string(data, size), "config.json"), "config.json");
    c.validate();
    fuzz::require(c.inner_dim() > 0, "inner_dim is positive");
    const auto j = c.to_json();
    const auto again = model::T5Config::from_json(j, "round trip");
    fuzz::require(again.to_json() == j, "to_json -> from_json round trip is exact");
    fuzz::require(again.feed_forward_proj() == c.feed_forward_proj(), "feed_forward_proj survives a round trip");
  });
  return 0;
}
