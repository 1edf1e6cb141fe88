#include "bipeft/export/adapter_loader.h"

#include <c10/util/Exception.h>

#include "bipeft/core/error.h"
#include "bipeft/export/hf_peft_import.h"
#include "bipeft/io/file_util.h"
#include "bipeft/peft/adapter_io.h"

namespace bipeft::exporter {

AdapterFormat detect_adapter_format(const std::string& dir) {
  if (!io::is_dir(dir)) throw IoError(dir + ": adapter folder not found");
  if (peft::is_native_adapter(dir)) return AdapterFormat::Native;
  if (is_hf_peft_adapter(dir)) return AdapterFormat::HfPeft;
  throw FormatError(dir + ": not an adapter folder: neither " + std::string(peft::kStructureFile) +
                    " (bipeft) nor adapter_config.json (Hugging Face PEFT) is there");
}

peft::PeftModel load_adapter(model::T5Model backbone, const std::string& dir) {
  switch (detect_adapter_format(dir)) {
    case AdapterFormat::Native:
      return peft::load_native_adapter(std::move(backbone), dir);
    case AdapterFormat::HfPeft:
      return load_hf_peft_adapter(std::move(backbone), dir);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown adapter format");
  return peft::PeftModel(nullptr);
}

}  // namespace bipeft::exporter
