// embed MODEL_DIR DATA_DIR OUT_DIR [--epochs N]
//
// Uses bipeft as a library: loads a T5 checkpoint and an SST-2-format folder (train.tsv, dev.tsv),
// searches a PEFT structure under a budget of 0.5% of the backbone's parameters with BIPEFT, trains
// it, and writes OUT_DIR/structure.json (with the search's plots), OUT_DIR/adapter (bipeft's native
// adapter), OUT_DIR/peft (the Hugging Face PEFT export) and OUT_DIR/scores.json. Progress arrives
// through the library's callback; Ctrl-C stops at the next step through the abort callback.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <bipeft/bipeft.h>

namespace {

std::atomic<bool> g_stop{false};

// Prints one line per progress update that moves a task forward by at least 10%.
class StderrProgress : public bipeft::ProgressSink {
 public:
  void update(const bipeft::ProgressUpdate& u) override {
    const int64_t decile = u.total > 0 ? 10 * u.done / u.total : u.done / 50;
    if (u.task == last_task_ && decile == last_decile_) return;
    last_task_ = u.task;
    last_decile_ = decile;
    std::cerr << "[" << u.task << "] " << u.done;
    if (u.total > 0) std::cerr << "/" << u.total;
    if (!u.status.empty()) std::cerr << "  " << u.status;
    std::cerr << "\n";
  }
  void finish(const std::string& task) override { std::cerr << "[" << task << "] done\n"; }

 private:
  std::string last_task_;
  int64_t last_decile_ = -1;
};

void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error(tmp + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 6 && std::string(argv[4]) == "--epochs")) {
    std::cerr << "usage: embed MODEL_DIR DATA_DIR OUT_DIR [--epochs N]\n"
                 "  DATA_DIR holds SST-2's train.tsv and dev.tsv (GLUE layout)\n";
    return 2;
  }
  const std::string model_dir = argv[1], data_dir = argv[2];
  const std::filesystem::path out_dir = argv[3];
  const int64_t epochs = argc == 6 ? std::atoll(argv[5]) : 3;
  if (epochs < 1) {
    std::cerr << "embed: --epochs must be >= 1\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  try {
    bipeft::RunContext ctx;
    ctx.seed = 42;
    ctx.progress = std::make_shared<StderrProgress>();
    ctx.log = [](bipeft::LogLevel level, const std::string& msg) {
      std::cerr << (level >= bipeft::LogLevel::Warning ? "warning: " : "") << msg << "\n";
    };
    ctx.abort_callback = [] { return g_stop.load(); };

    auto backbone = bipeft::model::load_t5(model_dir);
    auto tokenizer = bipeft::text::Tokenizer::from_model_dir(model_dir);
    bipeft::data::TaskOptions task_options;
    task_options.seed = ctx.seed;
    const auto task = bipeft::data::load_task("sst2", data_dir, task_options);
    const int64_t backbone_params = backbone->num_parameters();
    const auto budget = bipeft::search::parse_budget("0.5%", backbone_params);
    std::cerr << "budget " << budget.describe(backbone_params) << "\n";

    bipeft::search::SearchOptions options;
    const auto schedule = bipeft::search::default_search_schedule(
        task.name, static_cast<int64_t>(task.search_train.size()), options);
    options.epochs = schedule.epochs;
    options.prune_begin_epoch = schedule.prune_begin;
    options.validate();
    bipeft::search::SpaceOptions space;  // the paper's S2 space (LoRA, Adapter-LR, BitFit, LN-tuning)
    space.ranks = options.ranks;
    const auto found = bipeft::search::run_search(backbone, tokenizer, task, space, options, budget.params, ctx);

    std::filesystem::create_directories(out_dir);
    bipeft::search::SearchOutputInfo info;
    info.task = task.name;
    info.space = space.space;
    info.backbone_params = backbone_params;
    info.ranks = options.ranks;
    bipeft::search::write_search_outputs(out_dir.string(), found, info, backbone->sites());
    std::cerr << "found " << found.structure.modules.size() << " modules, " << static_cast<int64_t>(found.params)
              << " parameters (budget " << static_cast<int64_t>(budget.params) << ")\n";

    bipeft::peft::PeftModel model(backbone, found.structure, ctx.seed);
    bipeft::train::TrainOptions train_options;
    train_options.epochs = epochs;
    train_options.lr = 1e-3;
    const auto trained = bipeft::train::train_model(*model, tokenizer, task, train_options, ctx);
    bipeft::peft::save_native_adapter(*model, (out_dir / "adapter").string(), {{"base_model", model_dir}});
    bipeft::exporter::HfPeftExportOptions export_options;
    export_options.base_model_name_or_path = model_dir;
    bipeft::exporter::export_hf_peft(*model, (out_dir / "peft").string(), export_options);
    // bipeft train's scores.json: the result, parameter counts and the constant answer to read the test score against.
    write_json(out_dir / "scores.json", bipeft::train::scores_document(*model, task, trained, train_options.eval_test));
    std::cout << nlohmann::json{{"params", found.params},
                                {"budget", budget.params},
                                {"modules", found.structure.modules.size()},
                                {"dev", trained.best_dev.to_json()}}
                     .dump()
              << std::endl;
    return 0;
  } catch (const bipeft::Interrupted& e) {
    std::cerr << "embed: stopped (" << e.what() << ")\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "embed: " << e.what() << "\n";
    return 1;
  }
}
