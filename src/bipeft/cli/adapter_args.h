#pragma once
// Loading an --adapter folder (bipeft native or Hugging Face PEFT) onto a backbone.
#include <string>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"

namespace bipeft::cli {

/// The adapter of `dir` attached to `backbone`, or an empty holder when `dir` is empty.
peft::PeftModel load_adapter_if_given(model::T5Model backbone, const std::string& dir);

}  // namespace bipeft::cli
