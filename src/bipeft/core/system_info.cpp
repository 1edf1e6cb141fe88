#include "bipeft/core/system_info.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace bipeft {

std::string blas_library_path() {
  {
    auto a = at::ones({8, 8});
    (void)at::mm(a, a);
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    auto file = std::filesystem::path(path).filename().string();
    if (file.rfind("libblas", 0) == 0 || file.rfind("libopenblas", 0) == 0 || file.rfind("libmkl_rt", 0) == 0) {
      std::error_code ec;
      auto resolved = std::filesystem::canonical(path, ec);
      return ec ? path : resolved.string();
    }
  }
  return "";
}

bool is_openblas(const std::string& path) {
  return path.find("openblas") != std::string::npos || path.find("mkl") != std::string::npos;
}

std::string blas_summary() {
  const auto path = blas_library_path();
  if (path.empty()) return "no external BLAS mapped (LibTorch's own kernels)";
  if (is_openblas(path)) return "OpenBLAS (" + path + ")";
  return "reference BLAS (" + path +
         ") -- about 30x slower; install libopenblas0-pthread (see scripts/setup)";
}

std::string torch_summary() {
  std::string s = "LibTorch " TORCH_VERSION;
  s += ", CUDA: ";
  s += torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " device(s)" : "not available";
  s += ", threads: " + std::to_string(at::get_num_threads());
  return s;
}

}  // namespace bipeft
