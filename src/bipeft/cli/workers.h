#pragma once
// Multi-process (data-parallel) runs of search, train and compare: --nproc N starts N local workers of
// the same command line; a worker (RANK/WORLD_SIZE in its environment, from --nproc or an external
// launcher such as torchrun) joins the others through c10d. Only rank 0 writes the run's outputs.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "bipeft/cli/common_args.h"
#include "bipeft/cli/resume.h"

namespace bipeft::cli {

/// Adds --nproc N and --dist-timeout S.
void add_dist_options(CLI::App& app, RuntimeOptions& opts);

/// With --nproc N > 1 in a process that is not a worker yet: starts N copies of this command line on
/// 127.0.0.1 (RANK 0..N-1, a free MASTER_PORT), waits for them and returns the exit code: 0 when all
/// succeed, else the first failing worker's (the others are stopped). Otherwise nullopt: run here.
std::optional<int> launch_local_workers(const RuntimeOptions& opts, const std::string& command);

/// In a worker (WORLD_SIZE > 1): joins the others (ctx.comm: NCCL when each local worker has a GPU of its
/// own, Gloo otherwise), picks cuda:LOCAL_RANK (modulo the GPU count) for --device cuda,
/// and on ranks other than 0 keeps stderr to warnings and errors (prefixed with the rank) and stdout
/// empty. `resume` is refused in a worker (resume with one process: the saved state is the whole run's)
/// unless `resume_in_workers` (a command whose every process loads rank 0's state: pretrain).
void join_workers(RunContext& ctx, const RuntimeOptions& opts, const ResumeArgs& resume, const std::string& command,
                  bool resume_in_workers = false);

/// The folder this process writes `out` into: `out` on rank 0 (and in a single process), a private
/// scratch folder elsewhere (removed when the process exits).
std::string output_dir_of_rank(const RunContext& ctx, const std::string& out);

}  // namespace bipeft::cli
