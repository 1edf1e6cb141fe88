#pragma once
// What every c10d communicator shares: the TCPStore of the rendezvous and the errors that name the
// rank, the address and what to check. Internal to src/bipeft/dist (it includes c10d headers, which
// only the communicator sources are compiled with).
#include <chrono>
#include <exception>
#include <string>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"

namespace bipeft::dist {

/// The key-value store at MASTER_ADDR:MASTER_PORT (rank 0 serves it) that every rank joins; waits at
/// most `timeout` for all of them. Uses c10d's classic TCPStore server, not the libuv one that
/// LibTorch >= 2.4 asks for by default (Debian's LibTorch is built without libuv). Throws what c10d
/// throws; callers wrap it with rendezvous_error.
c10::intrusive_ptr<c10d::Store> open_store(const LaunchEnv& env, std::chrono::seconds timeout);

/// The Error of a failed rendezvous: rank, address, timeout, the first line of `cause`, what to check.
/// `hint` is the backend's own advice (may be empty).
Error rendezvous_error(const LaunchEnv& env, std::chrono::seconds timeout, const std::exception& cause,
                       const std::string& hint);

/// The Error of a failed collective `what` ("all-reduce", "broadcast").
Error collective_error(const LaunchEnv& env, std::chrono::seconds timeout, const char* what,
                       const std::exception& cause);

}  // namespace bipeft::dist
