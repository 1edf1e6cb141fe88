#include "bipeft/io/jsonl_writer.h"

#include "bipeft/core/error.h"

namespace bipeft::io {

JsonlWriter::JsonlWriter(const std::string& path) : out_(path, std::ios::app), path_(path) {
  if (!out_) throw IoError(path + ": cannot open log for writing");
}

void JsonlWriter::write(const nlohmann::json& event) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json e = event;
  if (!e.contains("time_s")) e["time_s"] = timer_.seconds();
  out_ << e.dump() << "\n";
  out_.flush();
  if (!out_) throw IoError(path_ + ": write failed");
}

}  // namespace bipeft::io
