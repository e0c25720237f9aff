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

#include <cstdlib>
#include <cstring>

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

// Block tile widths (BN) of the launchers' configurations (gemm_tc.cuh and
// gemm_simt.cu assert they match): linear_glu interleaves its weights by BN / 2.
constexpr int kTcBigBM = 128, kTcBigBN = 128, kTcSmallBN = 64, kSimtBN = 64;

// The tensor-core launcher's choice for an [M, N] product: 128x128 tiles when
// they fill the GPU, else 64x64; TORCH_ACT_CUDA_TILE=big|small forces one
// (tests and sanitizer runs use it to reach both on small shapes).
inline bool tc_big_tiles(int64_t M, int64_t N) {
  bool big = cdiv(M, kTcBigBM) * cdiv(N, kTcBigBN) >= sm_count();
  if (const char* force = std::getenv("TORCH_ACT_CUDA_TILE")) {
    if (std::strcmp(force, "big") == 0) big = true;
    if (std::strcmp(force, "small") == 0) big = false;
  }
  return big;
}

// linear_glu's epilogue (glu.cu, epilogue.cuh: epilogue_glu).  The launchers
// then take b = the interleaved weights [2 Np, K] for tile width bn (in every
// bn rows: bn/2 gate rows, then the bn/2 up rows of the same outputs; Np =
// round_up(n, bn/2), rows >= n zero), c = out [M, n], preact = z [M, 2n] or
// undefined, bias = the gate bias [n] or undefined, and run the configuration
// whose BN is bn (the tensor-core launcher: 128 or 64; CUDA cores: 64).
struct GluParams {
  int64_t n = 0;                  // N, the output width
  const void* bias_up = nullptr;  // the up bias [n], nullable
  int bn = 0;                     // the tile width b was interleaved for
};

// Both launchers: c [M, N] contiguous; preact / bias as gemm_act.  Return
// true when a row activation was fused into the epilogue; when false and act
// is a row activation, c holds z and the caller normalises the rows.
// glu: nullptr, or linear_glu's fused forward (GluParams; rowwise None).
// Tensor cores (mma.sync; T = c10::Half, c10::BFloat16, or float as TF32).
template <class T>
bool tc_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, const at::Tensor& bias,
             const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha,
             const GluParams* glu);
// CUDA cores (T = float without TF32, double).
template <class T>
bool simt_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
               const at::Tensor& bias, const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha,
               const GluParams* glu);

// Fills everything but the tile counts; vec decided for 8-wide output chunks.
template <class T>
GemmArgs make_gemm_args(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
                        const at::Tensor& bias, const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha,
                        const GluParams* glu) {
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
  if (glu != nullptr) {
    TORCH_CHECK(rowwise == Rowwise::None, "torch_act: linear_glu needs an elementwise gate");
    TORCH_CHECK(glu->bn > 0 && p.N % glu->bn == 0 && p.N >= 2 * glu->n,
                "torch_act: linear_glu: interleaved weights of ", p.N, " rows do not fit tile width ",
                glu->bn, " and N=", glu->n);
    p.epi.glu = true;
    p.epi.glu_n = glu->n;
    p.epi.bias_up = glu->bias_up;
    p.epi.ldo = glu->n;
    // out [M, n] and z [M, 2n]: 8-column chunks start at multiples of 8 when n % 8 == 0
    p.epi.vec = glu->n % 8 == 0 && aligned_to(p.epi.out, chunk_bytes) &&
                aligned_to(p.epi.preact, chunk_bytes);
  }
  return p;
}

}  // namespace cuda
}  // namespace torch_act
