// The c10d Gloo communicator. Built only when the Gloo headers were found (BIPEFT_HAVE_GLOO); without
// them connect() explains how to get a build that has them.
#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

#ifdef BIPEFT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "bipeft/dist/rendezvous.h"
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

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(const LaunchEnv& env, std::chrono::seconds timeout) : env_(env), timeout_(timeout) {
    try {
      store_ = open_store(env, timeout);
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
      throw rendezvous_error(env, timeout, e, "on several machines set GLOO_SOCKET_IFNAME to the interface that "
                                              "reaches MASTER_ADDR");
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
      throw collective_error(env_, timeout_, what, e);
    }
  }

  LaunchEnv env_;
  std::chrono::seconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::shared_ptr<Communicator> connect_gloo(const LaunchEnv& env, std::chrono::seconds timeout) {
  return std::make_shared<GlooCommunicator>(env, timeout);
}
#else
std::shared_ptr<Communicator> connect_gloo(const LaunchEnv& env, std::chrono::seconds) {
  throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                    ": this build has no distributed backend (c10d Gloo headers were not found when it was "
                    "built); install libgloo-dev (scripts/setup does) and rebuild, or run one process");
}
#endif

}  // namespace bipeft::dist
