#pragma once
// Facts about the running process that matter for speed: which BLAS LibTorch calls, thread counts.
#include <string>

namespace bipeft {

/// The BLAS shared library mapped into this process (resolved path), or "" if none is mapped.
/// Runs a small matrix product first so that a lazily loaded BLAS is mapped.
std::string blas_library_path();
/// True when `path` is an OpenBLAS build (fast), false for the reference BLAS (~30x slower).
bool is_openblas(const std::string& path);
/// One line such as "OpenBLAS (/usr/lib/.../openblas-pthread/libblas.so.3)" or a warning.
std::string blas_summary();
/// "LibTorch 1.13.1, CUDA: no" and the like.
std::string torch_summary();

}  // namespace bipeft
