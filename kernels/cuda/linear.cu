// torch_act — linear_act forward / backward on CUDA: GEMM dispatch (kernels in
// gemm_tc*.cu, gemm_simt.cu) plus the fused "activation backward +
// bias-gradient" kernel.
//
// dact_bias_kernel computes dz = Op::backward(g, s, a) for a 64-column x R-row
// block of [M, N] (256 threads: a warp per row, 2 adjacent columns per lane,
// so a warp reads 128-256 contiguous bytes of g), optionally stores dz, and
// sums its columns into per-block partials (warp sums combined in shared
// memory in a fixed order).  bias_grad_finalize adds the partials of each
// column in row-block order: deterministic, no atomics.  Then
// dX = dZ . W and dW = dZ^T . X run on the GEMM kernels with transposed
// operand views.  Speed: dact_bias is bandwidth bound (reads g and s, writes
// dz once); the backward as a whole is GEMM bound.

// dispatch_act (activations.h) is __host__ __device__; called here from host
// code with host lambdas, which nvcc flags (20011, 20014) although no device
// code ever makes that call.
#pragma nv_diag_suppress 20011
#pragma nv_diag_suppress 20014

#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include "common.cuh"
#include "gemm.cuh"
#include "internal.h"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {
namespace {

constexpr int kDbCols = 64, kDbThreads = 256, kDbWarps = kDbThreads / 32;
constexpr int kFinThreads = 256;

template <class T, class Op>
__global__ void __launch_bounds__(kDbThreads)
    dact_bias_kernel(const T* __restrict__ g, int64_t gs0, int64_t gs1, const T* __restrict__ s,
                     T* __restrict__ dz, int64_t ldz, acc_t<T>* __restrict__ partial, int64_t M,
                     int64_t N, int64_t rows_per_block, acc_t<T> alpha) {
  using A = acc_t<T>;
  __shared__ A red[kDbWarps][kDbCols];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kDbCols + 2 * lane;
  const int64_t m_begin = static_cast<int64_t>(blockIdx.y) * rows_per_block;
  const int64_t m_end = m_begin + rows_per_block < M ? m_begin + rows_per_block : M;
  A sum[2] = {A(0), A(0)};
  for (int64_t m = m_begin + warp; m < m_end; m += kDbWarps) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int64_t n = n0 + i;
      if (n < N) {
        const A gv = static_cast<A>(g[m * gs0 + n * gs1]);
        const A sv = s != nullptr ? static_cast<A>(s[m * N + n]) : A(0);
        const T d = static_cast<T>(Op::backward(gv, sv, alpha));
        if (dz != nullptr) dz[m * ldz + n] = d;
        sum[i] += static_cast<A>(d);  // db = sum of the dz actually used by dX / dW
      }
    }
  }
  if (partial != nullptr) {  // uniform over the block
    red[warp][2 * lane] = sum[0];
    red[warp][2 * lane + 1] = sum[1];
    __syncthreads();
    if (threadIdx.x < kDbCols) {
      const int64_t n = static_cast<int64_t>(blockIdx.x) * kDbCols + threadIdx.x;
      if (n < N) {
        A t = 0;
#pragma unroll
        for (int w = 0; w < kDbWarps; ++w) t += red[w][threadIdx.x];
        partial[static_cast<int64_t>(blockIdx.y) * N + n] = t;
      }
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kFinThreads)
    bias_grad_finalize(const acc_t<T>* __restrict__ partial, T* __restrict__ db, int64_t N, int parts) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kFinThreads + threadIdx.x;
  if (n >= N) return;
  acc_t<T> t = 0;
  for (int p = 0; p < parts; ++p) t += partial[static_cast<int64_t>(p) * N + n];
  db[n] = static_cast<T>(t);
}

// dz (optional) = act'(g, s); db (optional) = column sums of it.
template <class T, class Op>
void dact_bias(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dz, const at::Tensor& db,
               double alpha) {
  using A = acc_t<T>;
  const int64_t M = g.size(0), N = g.size(1);
  const int64_t rows_per_block = std::max<int64_t>(64, cdiv(M, 256));
  const int parts = static_cast<int>(cdiv(M, rows_per_block));
  at::Tensor partial;
  if (db.defined())
    partial = at::empty({parts, N}, g.options().dtype(c10::CppTypeToScalarType<A>::value));
  auto stream = at::cuda::getCurrentCUDAStream();
  const dim3 grid(static_cast<unsigned>(cdiv(N, kDbCols)), static_cast<unsigned>(parts));
  dact_bias_kernel<T, Op><<<grid, kDbThreads, 0, stream>>>(
      g.const_data_ptr<T>(), g.stride(0), g.stride(1), s.defined() ? s.const_data_ptr<T>() : nullptr,
      dz.defined() ? dz.data_ptr<T>() : nullptr, dz.defined() ? dz.stride(0) : 0,
      partial.defined() ? partial.data_ptr<A>() : nullptr, M, N, rows_per_block, static_cast<A>(alpha));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (db.defined()) {
    bias_grad_finalize<T><<<static_cast<unsigned>(cdiv(N, kFinThreads)), kFinThreads, 0, stream>>>(
        partial.const_data_ptr<A>(), db.data_ptr<T>(), N, parts);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

// GEMM dispatch: tensor cores for fp16 / bf16 / fp32-as-TF32, CUDA cores for
// fp32 without TF32 and fp64; row activations that did not fit the epilogue
// are normalised afterwards.
void gemm_act(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
              const at::Tensor& bias, const at::Tensor& preact, Act act, double alpha) {
  const int64_t M = a.size(0), N = b.size(0);
  if (M == 0 || N == 0) return;
  const auto st = a.scalar_type();
  const bool tensor_cores = cc_major() >= 8;
  bool fused = false;
  switch (st) {
    case at::kHalf:
    case at::kBFloat16:
      TORCH_CHECK(tensor_cores, "torch_act: float16/bfloat16 linear_act needs a GPU of compute "
                                "capability 8.0 or newer (mma.sync, cp.async)");
      fused = st == at::kHalf
                  ? tc_gemm<c10::Half>(a, b, c, bias, preact, act, alpha)
                  : tc_gemm<c10::BFloat16>(a, b, c, bias, preact, act, alpha);
      break;
    case at::kFloat:
      // TF32 follows torch.backends.cuda.matmul.allow_tf32, as torch's own matmuls do.
      fused = tensor_cores && at::globalContext().allowTF32CuBLAS()
                  ? tc_gemm<float>(a, b, c, bias, preact, act, alpha)
                  : simt_gemm<float>(a, b, c, bias, preact, act, alpha);
      break;
    case at::kDouble:
      fused = simt_gemm<double>(a, b, c, bias, preact, act, alpha);
      break;
    default:
      TORCH_CHECK(false, "torch_act: unsupported dtype ", st);
  }
  if (act_info(act).rowwise && !fused) softmax_forward(c, c, act == Act::LogSoftmax);
}

void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, Act act,
                        double alpha, const at::Tensor& out, const at::Tensor& preact) {
  const c10::cuda::CUDAGuard guard(x.device());
  gemm_act(x, w, out, b, preact, act, alpha);
}

void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, Act act, double alpha, const at::Tensor& dx,
                         const at::Tensor& dw, const at::Tensor& db) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t M = x.size(0), N = w.size(0);
  if (M == 0 || N == 0) {  // empty sums
    if (dx.defined()) dx.zero_();
    if (dw.defined()) dw.zero_();
    if (db.defined()) db.zero_();
    return;
  }
  const bool want_dz = dx.defined() || dw.defined();
  if (!want_dz && !db.defined()) return;
  const bool rowwise = act_info(act).rowwise;

  at::Tensor dz;  // [M, N] operand of the two GEMMs
  if (act == Act::Identity) {
    dz = g;  // dz == g: used as is, whatever its strides
    if (db.defined()) {
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_db", [&] {
        dact_bias<scalar_t, acts::Identity>(g, at::Tensor(), at::Tensor(), db, alpha);
      });
    }
  } else {
    if (want_dz || rowwise) {
      // rows padded to 16 bytes so both GEMMs can read dz (and dz^T) without a repack
      const int64_t ld = round_up(N, 8);
      dz = at::empty({M, ld}, g.options()).narrow(1, 0, N);
    }
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_dact", [&] {
      using T = scalar_t;
      if (rowwise) {
        softmax_backward(g.contiguous(), s, dz, act == Act::LogSoftmax);
        if (db.defined()) dact_bias<T, acts::Identity>(dz, at::Tensor(), at::Tensor(), db, alpha);
      } else {
        dispatch_act(act, [&](auto op) {
          using Op = decltype(op);
          if constexpr (!Op::kRowwise) dact_bias<T, Op>(g, s, dz, db, alpha);
        });
      }
    });
  }
  if (dx.defined()) gemm_act(dz, w.t(), dx, at::Tensor(), at::Tensor(), Act::Identity, 0.0);
  if (dw.defined()) gemm_act(dz.t(), x.t(), dw, at::Tensor(), at::Tensor(), Act::Identity, 0.0);
}

}  // namespace cuda
}  // namespace torch_act
