#include "bipeft/cli/workers.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include <torch/cuda.h>

#include "bipeft/cli/number_checks.h"
#include "bipeft/cli/signals.h"
#include "bipeft/core/blas.h"
#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

namespace bipeft::cli {

namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Scratch output folders of ranks other than 0, removed at exit.
struct ScratchDirs {
  std::vector<std::string> dirs;
  ~ScratchDirs() {
    for (const auto& d : dirs) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  }
};
ScratchDirs& scratch_dirs() {
  static ScratchDirs s;
  return s;
}

// The scratch output folder of worker `rank` running as process `pid`.
std::filesystem::path scratch_dir(int rank, long pid) {
  return std::filesystem::temp_directory_path() / ("bipeft-rank" + std::to_string(rank) + "-" + std::to_string(pid));
}

}  // namespace

void add_dist_options(CLI::App& app, RuntimeOptions& o) {
  app.add_option("--nproc", o.nproc,
                 "Start N data-parallel worker processes on this machine (each computes 1/N of every batch; "
                 "see README 'Several processes or machines' for RANK/WORLD_SIZE launches)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--dist-timeout", o.dist_timeout,
                 "Multi-process runs: seconds to wait for the other workers (rendezvous and each exchange)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
}

std::optional<int> launch_local_workers(const RuntimeOptions& o, const std::string& command) {
  if (o.nproc <= 1) return std::nullopt;
  const auto env = dist::launch_env();
  if (env.distributed()) {  // a worker already (started by --nproc or an external launcher)
    if (env.world_size != o.nproc)
      throw ConfigError("--nproc " + std::to_string(o.nproc) + " but WORLD_SIZE=" + std::to_string(env.world_size) +
                        " in the environment; give one or the other");
    return std::nullopt;
  }
  if (!dist::has_gloo())
    throw ConfigError("--nproc " + std::to_string(o.nproc) +
                      ": this build has no distributed backend (install libgloo-dev, which scripts/setup does, and "
                      "rebuild)");
  const int port = dist::free_local_port();
  std::vector<std::string> args{"bipeft"};
  for (const auto& a : command_line()) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<pid_t> pids(static_cast<size_t>(o.nproc), -1);
  std::vector<int> codes(pids.size(), -1);
  auto stop_all = [&](int sig) {
    for (size_t r = 0; r < pids.size(); ++r)
      if (pids[r] > 0 && codes[r] < 0) ::kill(pids[r], sig);
  };
  std::cerr.flush();
  for (int r = 0; r < o.nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      stop_all(SIGKILL);
      throw IoError("--nproc: fork failed for worker " + std::to_string(r));
    }
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv("/proc/self/exe", argv.data());
      std::cerr << "bipeft " << command << ": error: worker " << r << " could not start (exec failed)\n";
      ::_exit(1);
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  // Wait for all; the first failure stops the others (SIGTERM, then SIGKILL after 10 s).
  int first_failure = -1, running = o.nproc;
  bool forwarded = false;
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != pid) continue;
        codes[r] = exit_code_of(status);
        --running;
        std::error_code ec;  // a worker killed before its exit handlers ran leaves its scratch folder
        if (r > 0) std::filesystem::remove_all(scratch_dir(static_cast<int>(r), pid), ec);
        if (codes[r] != 0 && first_failure < 0) {
          first_failure = static_cast<int>(r);
          stop_all(SIGTERM);
          kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        }
      }
      continue;
    }
    if (pid < 0) break;  // no children left
    if (!forwarded && stop_flag()->load()) {  // SIGTERM/SIGINT to the launcher: pass it on
      forwarded = true;
      stop_all(SIGTERM);
    }
    if (first_failure >= 0 && std::chrono::steady_clock::now() > kill_at) stop_all(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (first_failure < 0) return 0;
  if (forwarded) return codes[0];  // stopped on request: rank 0 has said where its state is
  std::cerr << "bipeft " << command << ": error: worker " << first_failure << " of " << o.nproc << " exited with code "
            << codes[static_cast<size_t>(first_failure)] << " (its message is above); the other workers were stopped\n";
  return codes[static_cast<size_t>(first_failure)];
}

void join_workers(RunContext& ctx, const RuntimeOptions& o, const ResumeArgs& resume, const std::string& command,
                  bool resume_in_workers) {
  const auto env = dist::launch_env();
  if (!env.distributed()) return;
  if (resume.resuming() && !resume_in_workers)
    throw ConfigError("--resume in a multi-process run: resume with one process (the saved state holds the whole "
                      "run, so the result is the same), or start a new run");
  ::signal(SIGPIPE, SIG_IGN);  // a peer that dies closes its sockets: report it, do not die of SIGPIPE
  if (o.threads == 0) {
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    blas::configure_compute_threads(std::max(1, hw / env.local_world_size));
  }
  // --device cuda: worker LOCAL_RANK takes GPU LOCAL_RANK (round robin when there are fewer GPUs).
  // Workers with a GPU each reduce with NCCL; workers that share a GPU cannot (NCCL refuses two ranks
  // on one device) and reduce with Gloo through the host.
  bool own_gpu = false;
  if (ctx.device.is_cuda()) {
    const int gpus = static_cast<int>(torch::cuda::device_count());
    if (!ctx.device.has_index() && gpus > 0)
      ctx.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % gpus));
    own_gpu = env.local_world_size <= gpus && (env.local_world_size == 1 || o.device == "cuda");
  }
  if (env.rank != 0) {
    const std::string tag = command + " [rank " + std::to_string(env.rank) + "]";
    ctx.log = [tag](LogLevel level, const std::string& msg) {
      if (level >= LogLevel::Warning) log_line(tag, level, msg);
    };
    ctx.progress = nullptr;
    std::cout.setstate(std::ios::badbit);  // the run's answer is rank 0's
  }
  ctx.comm = dist::connect(env, std::chrono::seconds(o.dist_timeout), own_gpu ? ctx.device : c10::Device(c10::kCPU));
  if (env.rank == 0)
    ctx.info(std::to_string(env.world_size) + " data-parallel workers (" + ctx.comm->backend() + ", rendezvous " +
             env.master_addr + ":" + std::to_string(env.master_port) + ")");
}

std::string output_dir_of_rank(const RunContext& ctx, const std::string& out) {
  if (!ctx.comm || ctx.comm->rank() == 0) return out;
  const auto dir = scratch_dir(ctx.comm->rank(), static_cast<long>(::getpid()));
  scratch_dirs().dirs.push_back(dir.string());
  return dir.string();
}

}  // namespace bipeft::cli
