#pragma once
// Processes that train one model together (data parallelism) talk through a Communicator: sums and
// broadcasts of tensors, on PyTorch's distributed engine (c10d). Rendezvous follows the launcher
// convention of torchrun: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (LOCAL_RANK, LOCAL_WORLD_SIZE).
// A run without these variables is one process and needs no communicator.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace bipeft::dist {

/// Where this process sits in a multi-process run, read from the launcher's environment.
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool distributed() const { return world_size > 1; }
};

/// Reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK and LOCAL_WORLD_SIZE through `getenv`
/// (std::getenv by default). Unset WORLD_SIZE (or 1) = a single process. A malformed or inconsistent
/// value (RANK outside [0, WORLD_SIZE), a port outside 1..65535, MASTER_ADDR missing) is a ConfigError
/// naming the variable.
LaunchEnv launch_env(const std::function<const char*(const char*)>& getenv = nullptr);

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it): the rendezvous
/// port of local runs. IoError when no socket can be bound.
int free_local_port();

/// Collective operations among the processes of one run. Every process must make the same calls in
/// the same order with tensors of the same shapes. A peer that died or stopped answering ends the
/// call with an Error naming the operation (no hang beyond the timeout given at connection).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Replaces each tensor by its sum over all processes.
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  /// Replaces each tensor by process `root`'s.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  /// "gloo" or "nccl".
  virtual std::string backend() const = 0;
  /// Where the tensors given to the collectives must live: the CPU for Gloo, this process's GPU for
  /// NCCL (callers stage other tensors there).
  virtual c10::Device device() const { return c10::Device(c10::kCPU); }
};

/// True when this build has c10d's Gloo backend (Debian: libgloo-dev at build time).
bool has_gloo();

/// True when this build has c10d's NCCL backend (a CUDA LibTorch and the NCCL headers at build time).
bool has_nccl();

/// Joins the run described by `env`: a TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 serves it), then a
/// process group: NCCL on `device` when it is a CUDA device and this build has NCCL, Gloo otherwise
/// (CPU tensors; CUDA tensors are then staged through the host). Every process waits at most `timeout`
/// for the others to arrive and for each collective. Returns null for one process. ConfigError when
/// this build has no distributed backend; Error when the rendezvous fails (naming the address and
/// what to check).
std::shared_ptr<Communicator> connect(const LaunchEnv& env, std::chrono::seconds timeout,
                                      c10::Device device = c10::Device(c10::kCPU));

/// The Gloo communicator of connect() (ConfigError in a build without Gloo).
std::shared_ptr<Communicator> connect_gloo(const LaunchEnv& env, std::chrono::seconds timeout);

/// The NCCL communicator of connect() on CUDA device `device` (ConfigError in a build without NCCL,
/// or when `device` is not a CUDA device of this machine).
std::shared_ptr<Communicator> connect_nccl(const LaunchEnv& env, std::chrono::seconds timeout, c10::Device device);

}  // namespace bipeft::dist
