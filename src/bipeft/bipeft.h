#pragma once
// bipeft's library in one include: load a T5-family checkpoint and its tokenizer, read a task, search
// a PEFT structure under a parameter budget (BIPEFT or a baseline), train it, evaluate it, and save it
// as a native or Hugging Face PEFT adapter. Link bipeft::bipeft (find_package(bipeft); see
// examples/embed). Every call takes a RunContext for seed, device, dtype, progress, events, logging and
// an abort callback; library calls throw bipeft::Error subclasses (core/error.h) and never print.
//
//   auto backbone = bipeft::model::load_t5(model_dir);
//   auto tokenizer = bipeft::text::Tokenizer::from_model_dir(model_dir);
//   auto task = bipeft::data::load_task("sst2", data_dir, {});
//   auto budget = bipeft::search::parse_budget("0.5%", backbone->num_parameters());
//   auto found = bipeft::search::Searcher(backbone, tokenizer, task, space, options, budget.params, ctx).run();
//   bipeft::peft::PeftModel model(backbone, found.structure, ctx.seed);
//   bipeft::train::Trainer(*model, tokenizer, task, train_options, ctx).run();
//   bipeft::exporter::export_hf_peft(*model, out_dir);
// (run_search and train_model are the same calls in one line; baselines::run_compare_grid runs the whole
// grid of `bipeft compare`.)
#include "bipeft/core/error.h"
#include "bipeft/core/run_context.h"
#include "bipeft/data/task.h"
#include "bipeft/eval/evaluator.h"
#include "bipeft/export/adapter_loader.h"
#include "bipeft/export/hf_peft_export.h"
#include "bipeft/model/generate.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/model/t5_weights.h"
#include "bipeft/peft/adapter_io.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/baselines/compare_grid.h"
#include "bipeft/baselines/comparison.h"
#include "bipeft/baselines/search_method.h"
#include "bipeft/search/budget.h"
#include "bipeft/search/search_options.h"
#include "bipeft/search/search_outputs.h"
#include "bipeft/search/searcher.h"
#include "bipeft/search/space.h"
#include "bipeft/text/tokenizer.h"
#include "bipeft/train/train_options.h"
#include "bipeft/train/pretrainer.h"
#include "bipeft/train/train_outputs.h"
#include "bipeft/train/trainer.h"
