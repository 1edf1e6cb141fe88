#include "bipeft/core/blas.h"

#include <dlfcn.h>

#include <algorithm>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

namespace bipeft::blas {

namespace {

using sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using set_threads_fn = void (*)(int);
using get_threads_fn = int (*)();

struct Api {
  sgemm_fn sgemm = nullptr;
  set_threads_fn set_threads = nullptr;
  get_threads_fn get_threads = nullptr;
};

// Resolved once; immutable afterwards.
const Api& api() {
  static const Api a = [] {
    Api r;
    r.sgemm = reinterpret_cast<sgemm_fn>(::dlsym(RTLD_DEFAULT, "cblas_sgemm"));
    r.set_threads = reinterpret_cast<set_threads_fn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    r.get_threads = reinterpret_cast<get_threads_fn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    return r;
  }();
  return a;
}

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

}  // namespace

bool available() { return api().sgemm != nullptr; }

int threads() { return api().get_threads ? std::max(1, api().get_threads()) : 1; }

void set_threads(int n) {
  if (api().set_threads) api().set_threads(std::max(1, n));
}

void configure_compute_threads(int n) {
  n = std::max(1, n);
  if (api().set_threads) {
    at::set_num_threads(1);
    api().set_threads(n);
  } else {
    at::set_num_threads(n);
  }
}

void batched_sgemm(int64_t outer, int64_t inner, int64_t m, int64_t n, int64_t k, const Operand& a, const Operand& b,
                   float beta, float* c, int64_t ldc, int64_t c_batch, int64_t c_outer) {
  const auto& f = api();
  const int64_t total = outer * inner;
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t idx = lo; idx < hi; ++idx) {
      const int64_t o = idx / inner, i = idx % inner;
      f.sgemm(kRowMajor, a.trans ? kTrans : kNoTrans, b.trans ? kTrans : kNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a.ptr + o * a.outer_stride + i * a.batch_stride,
              static_cast<int>(a.ld), b.ptr + o * b.outer_stride + i * b.batch_stride, static_cast<int>(b.ld), beta,
              c + o * c_outer + i * c_batch, static_cast<int>(ldc));
    }
  };
  const int workers = static_cast<int>(std::min<int64_t>(threads(), total));
  const double flops = 2.0 * static_cast<double>(total) * m * n * k;
  if (workers <= 1 || flops < 2e6) {
    const int saved0 = threads();
    set_threads(1);
    run(0, total);
    set_threads(saved0);
    return;
  }
  const int saved = threads();
  set_threads(1);
  std::vector<std::thread> pool;
  const int64_t chunk = (total + workers - 1) / workers;
  for (int w = 1; w < workers; ++w) {
    const int64_t lo = w * chunk, hi = std::min(total, lo + chunk);
    if (lo < hi) pool.emplace_back(run, lo, hi);
  }
  run(0, std::min(total, chunk));
  for (auto& t : pool) t.join();
  set_threads(saved);
}

}  // namespace bipeft::blas
