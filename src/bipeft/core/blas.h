#pragma once
// Direct access to the process's CBLAS (OpenBLAS on Debian) for the many small GEMMs of attention,
// where ATen's per-matrix dispatch and OpenBLAS's own threading waste most of the time. Found at
// run time with dlsym; when absent (e.g. an MKL-only LibTorch), callers use ATen instead.
#include <cstdint>

namespace bipeft::blas {

/// True when cblas_sgemm can be called.
bool available();
/// OpenBLAS worker threads (1 when unknown).
int threads();
/// Sets OpenBLAS worker threads (no-op when the BLAS has no such control).
void set_threads(int n);
/// Uses `n` cores for compute: LibTorch intra-op threads 1 (its OpenMP workers and OpenBLAS's spin
/// against each other on small machines) and OpenBLAS threads `n`. Without OpenBLAS thread control,
/// LibTorch gets the `n` threads instead.
void configure_compute_threads(int n);

/// One strided row-major matrix operand: element (i, j) at ptr[i * ld + j] (transposed when trans).
struct Operand {
  const float* ptr;
  int64_t ld;
  int64_t batch_stride;  // elements between consecutive matrices (of the inner batch)
  int64_t outer_stride;  // elements between consecutive outer batches
  bool trans;
};

/// C[o, i] = op(A[o, i]) op(B[o, i]) + beta * C[o, i] for o < outer, i < inner, where op(A) is m x k
/// and op(B) is k x n. C is written at c + o * c_outer + i * c_batch with leading dimension ldc.
/// Matrices are spread over the OpenBLAS threads, each running single-threaded BLAS.
void batched_sgemm(int64_t outer, int64_t inner, int64_t m, int64_t n, int64_t k, const Operand& a, const Operand& b,
                   float beta, float* c, int64_t ldc, int64_t c_batch, int64_t c_outer);

}  // namespace bipeft::blas
