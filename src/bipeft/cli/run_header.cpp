#include "bipeft/cli/run_header.h"

#include <ctime>

#include "bipeft/build_info.h"
#include "bipeft/cli/resume.h"
#include "bipeft/core/system_info.h"

namespace bipeft::cli {

nlohmann::json run_header(const std::string& command, const nlohmann::json& options) {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return {{"producer", "bipeft"}, {"version", BIPEFT_VERSION}, {"git", BIPEFT_GIT_HASH},
          {"command", command},   {"created_utc", buf},        {"torch", torch_summary()},
          {"argv", command_line()}, {"options", options}};
}

}  // namespace bipeft::cli
