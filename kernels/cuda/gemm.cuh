// torch_act — GEMM arguments and the per-dtype launchers shared by the GEMM
// files (linear.cu dispatches; gemm_tc_*.cu and gemm_simt.cu implement).
//
// Convention: C[m, n] = sum_k A[m, k] * B[n, k], i.e. both operands are
// given as [rows, K] (B like nn.Linear's weight).  Each operand is either
// "K-major" (unit stride along K, row stride ld) or "MN-major" (unit stride
// along rows, K stride ld); the backward products reach the transposed cases
// just by passing dz.t(), x.t(), w.t() views.
#pragma once

#include <ATen/core/Tensor.h>

#include "epilogue.cuh"

namespace torch_act {
namespace cuda {

struct GemmArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  int64_t a_sr = 0, a_sk = 0;  // strides of A along rows / K (elements)
  int64_t b_sr = 0, b_sk = 0;
  int64_t M = 0, N = 0, K = 0;
  int tiles_m = 0, tiles_n = 0;
  EpiArgs epi;
};

// Both launchers: c [M, N] contiguous; preact / bias as gemm_act.  Return
// true when a row activation was fused into the epilogue; when false and act
// is a row activation, c holds z and the caller normalises the rows.
// Tensor cores (mma.sync; T = c10::Half, c10::BFloat16, or float as TF32).
template <class T>
bool tc_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, const at::Tensor& bias,
             const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha);
// CUDA cores (T = float without TF32, double).
template <class T>
bool simt_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
               const at::Tensor& bias, const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha);

// Fills everything but the tile counts; vec decided for 8-wide output chunks.
template <class T>
GemmArgs make_gemm_args(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                        const at::Tensor& bias, const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha) {
  GemmArgs p;
  p.a = a.const_data_ptr();
  p.b = b.const_data_ptr();
  p.a_sr = a.stride(0);
  p.a_sk = a.stride(1);
  p.b_sr = b.stride(0);
  p.b_sk = b.stride(1);
  p.M = a.size(0);
  p.K = a.size(1);
  p.N = b.size(0);
  p.epi.out = c.data_ptr();
  p.epi.preact = preact.defined() ? preact.data_ptr() : nullptr;
  p.epi.bias = bias.defined() ? bias.const_data_ptr() : nullptr;
  p.epi.ldo = p.N;
  p.epi.act = epi_act;
  p.epi.log = rowwise == Rowwise::LogSoftmax;
  p.epi.alpha = alpha;
  const int64_t chunk_bytes = 8 * static_cast<int64_t>(sizeof(T));
  p.epi.vec = p.N % 8 == 0 && aligned_to(p.epi.out, chunk_bytes) &&
              aligned_to(p.epi.preact, chunk_bytes);
  return p;
}

}  // namespace cuda
}  // namespace torch_act
