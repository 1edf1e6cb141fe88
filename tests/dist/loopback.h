#pragma once
// Two real c10d Gloo workers as threads of the test process (ranks 0 and 1 on 127.0.0.1).
#include <array>
#include <chrono>
#include <future>
#include <memory>

#include "bipeft/dist/communicator.h"

namespace bipeft::test {

/// Runs `work(communicator)` on rank 0 and rank 1 at once and returns both results, rank 0's first.
/// `device` is the device the run computes on (it picks the backend, see dist::connect).
template <class F>
auto on_two_loopback_workers(F work, c10::Device device = c10::Device(c10::kCPU)) {
  const int port = dist::free_local_port();
  auto worker = [&](int rank) {
    dist::LaunchEnv env;
    env.rank = rank;
    env.world_size = 2;
    env.master_port = port;
    return work(dist::connect(env, std::chrono::seconds(30), device));
  };
  auto f0 = std::async(std::launch::async, worker, 0);
  auto f1 = std::async(std::launch::async, worker, 1);
  auto r0 = f0.get();
  return std::array<decltype(r0), 2>{std::move(r0), f1.get()};
}

}  // namespace bipeft::test
