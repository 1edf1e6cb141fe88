#pragma once
// Machine-readable logs: one JSON object per line, flushed per line, with "time_s" added.
#include <fstream>
#include <mutex>
#include <string>

#include "bipeft/core/run_context.h"
#include "bipeft/core/timer.h"

namespace bipeft::io {

class JsonlWriter : public EventSink {
 public:
  /// Opens `path` for appending (created if missing); throws IoError.
  explicit JsonlWriter(const std::string& path);
  void write(const nlohmann::json& event) override;

 private:
  std::ofstream out_;
  std::string path_;
  Timer timer_;
  std::mutex mu_;
};

}  // namespace bipeft::io
