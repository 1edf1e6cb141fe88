// bipeft export --model DIR --adapter DIR --format peft|merged --out DIR [--drop-unmergeable] [--overwrite]
// peft: the LoRA part as a Hugging Face PEFT adapter, LNFit as a PEFT LN tuning adapter in ln_tuning/, the
// complete native adapter in native/, and bipeft_export.json saying what went where.
// merged: a full Hugging Face T5 checkpoint with every mergeable delta folded in.
// stdout: the report as JSON; stderr: one line per part.
#include <filesystem>
#include <iostream>
#include <map>

#include "bipeft/cli/command.h"
#include "bipeft/cli/common_args.h"
#include "bipeft/core/error.h"
#include "bipeft/core/strings.h"
#include "bipeft/export/adapter_loader.h"
#include "bipeft/export/hf_peft_config.h"
#include "bipeft/export/hf_peft_export.h"
#include "bipeft/export/merge.h"
#include "bipeft/io/file_util.h"
#include "bipeft/model/t5_weights.h"

namespace bipeft::cli {

namespace {

namespace fs = std::filesystem;

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

/// With --overwrite on an earlier export folder, removes what that export wrote so no stale part remains.
void remove_previous_export(const std::string& out) {
  if (!io::is_file((fs::path(out) / exporter::kExportReportFile).string())) return;
  std::vector<std::string> names = {exporter::kHfConfigFile, exporter::kHfSafetensorsFile, exporter::kLnTuningSubdir,
                                    exporter::kNativeSubdir, "config.json", "model.safetensors",
                                    exporter::kExportReportFile};
  for (const auto& f : exporter::tokenizer_files()) names.push_back(f);
  for (const auto& n : names) {
    std::error_code ec;
    fs::remove_all(fs::path(out) / n, ec);
    if (ec) throw IoError((fs::path(out) / n).string() + ": cannot remove the previous export (" + ec.message() + ")");
  }
}

/// "bitfit x3, prefix x2" from the report's native_only entries.
std::string count_by_method(const nlohmann::json& entries) {
  std::map<std::string, int> counts;
  for (const auto& e : entries) ++counts[e["method"].get<std::string>()];
  std::vector<std::string> parts;
  for (const auto& [method, n] : counts) parts.push_back(method + " x" + std::to_string(n));
  return join(parts, ", ");
}

struct ExportOpts {
  std::string model, adapter, format, out;
  bool drop_unmergeable = false, overwrite = false, quiet = false;
};

/// Loads the model and the adapter and writes the export; returns the report.
nlohmann::json run_export(const ExportOpts& o) {
  auto info = [&](const std::string& msg) {
    if (!o.quiet) log_line("export", LogLevel::Info, msg);
  };
  auto backbone = model::load_t5(o.model);
  auto adapter = exporter::load_adapter(backbone, o.adapter);
  adapter->train(false);
  if (o.overwrite) remove_previous_export(o.out);
  if (o.format == "merged") {
    exporter::MergedExportOptions mo;
    mo.drop_unmergeable = o.drop_unmergeable;
    mo.model_dir = o.model;
    auto report = exporter::export_merged(*adapter, o.out, mo);
    info("merged " + std::to_string(report["merged"].size()) + " module(s) -> " + o.out + "/model.safetensors");
    if (!report["dropped"].empty())
      log_line("export", LogLevel::Warning,
               "dropped " + std::to_string(report["dropped"].size()) +
                   " unmergeable module(s): " + join(report["dropped"].get<std::vector<std::string>>(), ", "));
    return report;
  }
  exporter::HfPeftExportOptions eo;
  eo.base_model_name_or_path = o.model;
  if (exporter::detect_adapter_format(o.adapter) == exporter::AdapterFormat::Native) eo.native_source = o.adapter;
  auto s = exporter::export_hf_peft(*adapter, o.out, eo);
  if (!s.lora_modules.empty())
    info("LoRA: " + std::to_string(s.lora_modules.size()) + " module(s), r = lora_alpha = " + std::to_string(s.lora_r) +
         " -> " + o.out + "/" + exporter::kHfSafetensorsFile);
  if (!s.ln_tuning_modules.empty())
    info("LNFit: " + std::to_string(s.ln_tuning_modules.size()) + " norm(s) as LN tuning -> " + o.out + "/" +
         exporter::kLnTuningSubdir + "/");
  if (s.nothing_for_peft())
    log_line("export", LogLevel::Warning,
             "the adapter has no LoRA and no LNFit module, so there is no PEFT adapter to write; only " + o.out + "/" +
                 exporter::kNativeSubdir + "/ and " + exporter::kExportReportFile + " were written (try --format merged)");
  if (!s.native_only.empty())
    log_line("export", LogLevel::Warning,
             "not representable in PEFT, kept only in " + o.out + "/" + exporter::kNativeSubdir + "/: " +
                 count_by_method(s.report["native_only"]));
  return s.report;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto o = std::make_shared<ExportOpts>();
  auto* app = root.add_subcommand(
      "export", "Export an adapter as a Hugging Face PEFT adapter or as a merged Hugging Face T5 checkpoint");
  add_model_option(*app, o->model);
  app->add_option("--adapter", o->adapter, "Adapter folder: bipeft native (structure.json) or Hugging Face PEFT")
      ->required()
      ->check(CLI::ExistingDirectory);
  app->add_option("--format", o->format,
                  "peft: LoRA as a PEFT adapter, LNFit in ln_tuning/, everything in native/; "
                  "merged: full checkpoint with LoRA/LNFit folded into the weights")
      ->required()
      ->check(CLI::IsMember({"peft", "merged"}));
  app->add_option("--out", o->out, "Output folder (absent or empty unless --overwrite)")->required();
  app->add_flag("--drop-unmergeable", o->drop_unmergeable,
                "merged: leave out modules that cannot be merged (BitFit, adapters, prefix) instead of refusing");
  app->add_flag("--overwrite", o->overwrite, "Write into a non-empty --out (files of an earlier export are replaced)");
  app->add_flag("--quiet,-q", o->quiet, "No info lines on stderr (warnings are still printed)");
  return {app, [o]() {
            for (const auto* in : {&o->model, &o->adapter})
              if (same_folder(o->out, *in))
                throw ConfigError("--out " + o->out + " is the " + (in == &o->model ? "--model" : "--adapter") +
                                  " folder; give a new folder");
            if (o->drop_unmergeable && o->format != "merged")
              throw ConfigError("--drop-unmergeable applies to --format merged only");
            const bool created = !fs::exists(o->out);
            prepare_output_dir(o->out, o->overwrite);
            nlohmann::json report;
            try {
              report = run_export(*o);
            } catch (const std::exception&) {
              // Leave no empty folder behind when nothing was written (e.g. a refused merge).
              std::error_code ec;
              if (created && fs::is_empty(o->out, ec)) fs::remove(o->out, ec);
              throw;
            }
            std::cout << report.dump(2) << "\n";
            std::cout.flush();
            return 0;
          }};
}

}  // namespace bipeft::cli
