#include "bipeft/dist/communicator.h"

namespace bipeft::dist {

std::shared_ptr<Communicator> connect(const LaunchEnv& env, std::chrono::seconds timeout, c10::Device device) {
  if (!env.distributed()) return nullptr;
  if (device.is_cuda() && has_nccl()) return connect_nccl(env, timeout, device);
  return connect_gloo(env, timeout);
}

}  // namespace bipeft::dist
