// The c10d NCCL communicator of CUDA runs: one GPU per process, collectives on that GPU. Built only
// with a CUDA LibTorch and the NCCL headers (BIPEFT_HAVE_NCCL); elsewhere has_nccl() is false and
// connect() uses Gloo.
#include <string>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

#ifdef BIPEFT_HAVE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "bipeft/dist/rendezvous.h"
#endif

namespace bipeft::dist {

bool has_nccl() {
#ifdef BIPEFT_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

#ifdef BIPEFT_HAVE_NCCL
namespace {

// LibTorch >= 2.3 wants a process group shut down before it is destroyed (else it warns on stderr
// and may hang on exit); older versions have no shutdown().
template <class Group>
auto shutdown_group(Group& g, int) -> decltype(g.shutdown(), void()) {
  g.shutdown();
}
template <class Group>
void shutdown_group(Group&, long) {}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const LaunchEnv& env, std::chrono::seconds timeout, c10::Device device)
      : env_(env), timeout_(timeout), device_(device) {
    const int gpus = static_cast<int>(c10::cuda::device_count());
    if (!device_.has_index()) device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    if (device_.index() >= gpus)
      throw ConfigError("rank " + std::to_string(env.rank) + ": device " + device_.str() + " but this machine has " +
                        std::to_string(gpus) + " GPU(s); start at most that many workers per machine, or give " +
                        "each one a device that exists");
    // NCCL creates its communicator on the current device: make it this process's GPU.
    c10::cuda::set_device(device_.index());
    try {
      store_ = open_store(env, timeout);
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, opts);
    } catch (const std::exception& e) {
      throw rendezvous_error(env, timeout, e, "NCCL_SOCKET_IFNAME picks the network interface on several machines");
    }
  }
  ~NcclCommunicator() override {
    if (group_) shutdown_group(*group_, 0);
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  std::string backend() const override { return "nccl"; }
  c10::Device device() const override { return device_; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    auto staged = stage(tensors);
    run("all-reduce", [&] { return group_->allreduce(staged); });
    unstage_(staged, tensors);
  }
  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    auto staged = stage(tensors);
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    run("broadcast", [&] { return group_->broadcast(staged, bo); });
    unstage_(staged, tensors);
  }

 private:
  // NCCL reduces only dense tensors on this process's GPU: copy any other tensor there and back.
  std::vector<at::Tensor> stage(const std::vector<at::Tensor>& tensors) const {
    std::vector<at::Tensor> out;
    out.reserve(tensors.size());
    for (const auto& t : tensors)
      out.push_back(t.device() == device_ && t.is_contiguous() ? t : t.to(device_).contiguous());
    return out;
  }
  static void unstage_(const std::vector<at::Tensor>& staged, std::vector<at::Tensor>& tensors) {
    for (size_t i = 0; i < tensors.size(); ++i)
      if (!staged[i].is_same(tensors[i])) tensors[i].copy_(staged[i]);
  }
  template <class F>
  void run(const char* what, F&& start) {
    try {
      start()->wait(timeout_);
    } catch (const std::exception& e) {
      throw collective_error(env_, timeout_, what, e);
    }
  }

  LaunchEnv env_;
  std::chrono::seconds timeout_;
  c10::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group_;
};

}  // namespace

std::shared_ptr<Communicator> connect_nccl(const LaunchEnv& env, std::chrono::seconds timeout, c10::Device device) {
  if (!device.is_cuda())
    throw ConfigError("the NCCL communicator needs a CUDA device, not " + device.str() + "; use Gloo (connect())");
  return std::make_shared<NcclCommunicator>(env, timeout, device);
}
#else
std::shared_ptr<Communicator> connect_nccl(const LaunchEnv& env, std::chrono::seconds, c10::Device) {
  throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                    ": this build has no NCCL (it needs a CUDA LibTorch and libnccl-dev when it is built); "
                    "rebuild against a CUDA LibTorch, or use the Gloo backend");
}
#endif

}  // namespace bipeft::dist
