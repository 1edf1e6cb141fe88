#include "bipeft/cli/adapter_args.h"

#include "bipeft/peft/adapter_io.h"

namespace bipeft::cli {

peft::PeftModel load_adapter_if_given(model::T5Model backbone, const std::string& dir) {
  if (dir.empty()) return peft::PeftModel(nullptr);
  return peft::load_native_adapter(backbone, dir);
}

}  // namespace bipeft::cli
