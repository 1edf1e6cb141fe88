// The c10d Gloo communicator. Built only when the Gloo headers were found (BIPEFT_HAVE_GLOO); without
// them connect() explains how to get a build that has them.
#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

#ifdef BIPEFT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace bipeft::dist {

bool has_gloo() {
#ifdef BIPEFT_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

#ifdef BIPEFT_HAVE_GLOO
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(const LaunchEnv& env, std::chrono::seconds timeout) : env_(env), timeout_(timeout) {
    // Both phases fail the same way when a rank is missing or unreachable: say where and what to check.
    auto failed = [&](const std::exception& e) {
      return Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ": rendezvous at " +
                   env.master_addr + ":" + std::to_string(env.master_port) + " failed within " +
                   std::to_string(timeout.count()) + " s (" + first_line(e.what()) +
                   "); check that every rank was started with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, "
                   "that rank 0 runs and its port is free and reachable (on several machines set "
                   "GLOO_SOCKET_IFNAME to the interface that reaches MASTER_ADDR)");
    };
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(env.master_port);
      so.isServer = env.rank == 0;
      so.numWorkers = static_cast<std::size_t>(env.world_size);
      so.waitWorkers = true;
      so.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the network interface as in PyTorch; loopback runs bind to 127.0.0.1.
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0')
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, opts);
    } catch (const std::exception& e) {
      throw failed(e);
    }
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  std::string backend() const override { return "gloo"; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    run("all-reduce", [&] { return group_->allreduce(tensors); });
  }
  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    run("broadcast", [&] { return group_->broadcast(tensors, bo); });
  }

 private:
  template <class F>
  void run(const char* what, F&& start) {
    try {
      start()->wait(timeout_);
    } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) + ": " + what +
                  " failed (" + first_line(e.what()) + "): another worker died or did not answer within " +
                  std::to_string(timeout_.count()) + " s; see that worker's error, or raise --dist-timeout");
    }
  }

  LaunchEnv env_;
  std::chrono::seconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::shared_ptr<Communicator> connect(const LaunchEnv& env, std::chrono::seconds timeout) {
  if (!env.distributed()) return nullptr;
  return std::make_shared<GlooCommunicator>(env, timeout);
}
#else
std::shared_ptr<Communicator> connect(const LaunchEnv& env, std::chrono::seconds) {
  if (!env.distributed()) return nullptr;
  throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                    ": this build has no distributed backend (c10d Gloo headers were not found when it was "
                    "built); install libgloo-dev (scripts/setup does) and rebuild, or run one process");
}
#endif

}  // namespace bipeft::dist
