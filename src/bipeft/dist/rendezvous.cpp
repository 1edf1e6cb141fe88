// Built only with the c10d headers (BIPEFT_HAVE_C10D): see the top-level CMakeLists.txt.
#ifdef BIPEFT_HAVE_C10D
#include "bipeft/dist/rendezvous.h"

#include <cstdint>
#include <utility>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace bipeft::dist {

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// LibTorch >= 2.2 has TCPStoreOptions::useLibUV, and from 2.4 on it defaults to true; a LibTorch
// built without libuv (Debian's) then fails every rendezvous ("use_libuv was requested but PyTorch
// was build without libuv support"). The classic server works in every version: ask for it wherever
// the option exists (the first overload exists only then).
template <class Options>
auto use_classic_server(Options& o, int) -> decltype(o.useLibUV = false, void()) {
  o.useLibUV = false;
}
template <class Options>
void use_classic_server(Options&, long) {}

}  // namespace

c10::intrusive_ptr<c10d::Store> open_store(const LaunchEnv& env, std::chrono::seconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  use_classic_server(so, 0);
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
}

Error rendezvous_error(const LaunchEnv& env, std::chrono::seconds timeout, const std::exception& cause,
                       const std::string& hint) {
  return Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ": rendezvous at " +
               env.master_addr + ":" + std::to_string(env.master_port) + " failed within " +
               std::to_string(timeout.count()) + " s (" + first_line(cause.what()) +
               "); check that every rank was started with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, "
               "that rank 0 runs and its port is free and reachable" +
               (hint.empty() ? std::string() : " (" + hint + ")"));
}

Error collective_error(const LaunchEnv& env, std::chrono::seconds timeout, const char* what,
                       const std::exception& cause) {
  return Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ": " + what +
               " failed (" + first_line(cause.what()) + "): another worker died or did not answer within " +
               std::to_string(timeout.count()) + " s; see that worker's error, or raise the timeout (dist::connect.timeout)");
}

}  // namespace bipeft::dist
#endif
