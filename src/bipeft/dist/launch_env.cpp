#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

namespace bipeft::dist {

namespace {

int parse_int(const char* name, const char* text, int lo, int hi) {
  try {
    size_t used = 0;
    const long v = std::stol(text, &used);
    if (used == std::string(text).size() && v >= lo && v <= hi) return static_cast<int>(v);
  } catch (const std::exception&) {
  }
  throw ConfigError(std::string("environment variable ") + name + "='" + text + "' must be an integer in [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace

LaunchEnv launch_env(const std::function<const char*(const char*)>& getenv_fn) {
  const auto get = [&](const char* name) -> const char* {
    const char* v = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  LaunchEnv env;
  if (const char* w = get("WORLD_SIZE")) env.world_size = parse_int("WORLD_SIZE", w, 1, 65536);
  if (!env.distributed()) return env;
  const char* rank = get("RANK");
  if (rank == nullptr)
    throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                      " but RANK is not set; set RANK (0.." + std::to_string(env.world_size - 1) +
                      ") for every process, or unset WORLD_SIZE to run a single process");
  env.rank = parse_int("RANK", rank, 0, env.world_size - 1);
  const char* addr = get("MASTER_ADDR");
  if (addr == nullptr)
    throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                      " but MASTER_ADDR is not set; set it to the host name or address of the rank-0 machine");
  env.master_addr = addr;
  const char* port = get("MASTER_PORT");
  if (port == nullptr)
    throw ConfigError("WORLD_SIZE=" + std::to_string(env.world_size) +
                      " but MASTER_PORT is not set; set it to a free TCP port on the rank-0 machine (e.g. 29500)");
  env.master_port = parse_int("MASTER_PORT", port, 1, 65535);
  if (const char* lw = get("LOCAL_WORLD_SIZE")) env.local_world_size = parse_int("LOCAL_WORLD_SIZE", lw, 1, env.world_size);
  const bool local_world_given = get("LOCAL_WORLD_SIZE") != nullptr;
  if (const char* lr = get("LOCAL_RANK"))
    env.local_rank = parse_int("LOCAL_RANK", lr, 0, (local_world_given ? env.local_world_size : env.world_size) - 1);
  return env;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw IoError("cannot open a socket to find a free port for the rendezvous");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw IoError("cannot bind a socket on 127.0.0.1 to find a free port for the rendezvous");
  return ntohs(addr.sin_port);
}

}  // namespace bipeft::dist
