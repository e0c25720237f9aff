// torch_act — softmax / log_softmax over the last dim on CUDA, forward and
// backward (the row activations of activations.h).
//
// Forward: one pass with an online (running max, rescaled sum) reduction, a
// second pass writes exp(z - max) / sum or z - max - log(sum); y may alias z
// (each element is read and then written by the same thread).  Backward:
// one pass for sum(g * y) (softmax) or sum(g) (log_softmax), one for dx.
// Threads: rows of up to 1024 elements get a warp each (4 warps per block,
// lanes strided over the row, shuffles to reduce); longer rows get a block
// each (256 or 512 threads, shuffles then shared memory).  Grid-stride over rows.
// Speed: memory bound (2 reads + 1 write per element forward, 3 reads + 1
// write backward; the second read is usually an L1/L2 hit).
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>

#include "common.cuh"
#include "internal.h"

namespace torch_act {
namespace cuda {
namespace {

using act_math::t_exp;

constexpr int kWarpRowMax = 1024;  // rows up to this length: a warp per row
constexpr int kWarpKernelThreads = 128;

// Running (max, sum of exp(v - max)) of a set of values; -inf values add nothing.
template <class A>
struct MaxSum {
  A m, s;
  __device__ __forceinline__ void add(A v) {
    if (v > m) {
      s = s * t_exp(m - v) + A(1);  // m == -inf -> s == 0 and the product is 0
      m = v;
    } else if (v != neg_inf<A>()) {
      s += t_exp(v - m);  // NaN v -> NaN sum, as torch
    }
  }
  __device__ __forceinline__ void merge(A m2, A s2) {
    const A mn = m2 > m ? m2 : m;
    if (mn == neg_inf<A>()) return;  // both empty
    s = (m == neg_inf<A>() ? A(0) : s * t_exp(m - mn)) + (m2 == neg_inf<A>() ? A(0) : s2 * t_exp(m2 - mn));
    m = mn;
  }
  __device__ __forceinline__ void warp_merge() {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const A m2 = __shfl_xor_sync(0xffffffffu, m, o);
      const A s2 = __shfl_xor_sync(0xffffffffu, s, o);
      merge(m2, s2);
    }
  }
};

template <class T, class A>
__device__ __forceinline__ T softmax_out(A z, A m, A inv_s, A log_s, bool log) {
  return static_cast<T>(log ? z - m - log_s : t_exp(z - m) * inv_s);
}

template <class T>
__global__ void __launch_bounds__(kWarpKernelThreads)
    softmax_fwd_warp_kernel(const T* x, T* y, int64_t rows, int n, bool log) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int wpb = blockDim.x >> 5;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * wpb + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * wpb) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    MaxSum<A> ms{neg_inf<A>(), A(0)};
    for (int j = lane; j < n; j += 32) ms.add(static_cast<A>(xr[j]));
    ms.warp_merge();
    const A inv = A(1) / ms.s, ls = ta_log(ms.s);
    for (int j = lane; j < n; j += 32) yr[j] = softmax_out<T>(static_cast<A>(xr[j]), ms.m, inv, ls, log);
  }
}

template <class T>
__global__ void softmax_fwd_block_kernel(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  using A = acc_t<T>;
  __shared__ A sm[32], ss[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    MaxSum<A> ms{neg_inf<A>(), A(0)};
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) ms.add(static_cast<A>(xr[j]));
    ms.warp_merge();
    if (lane == 0) {
      sm[warp] = ms.m;
      ss[warp] = ms.s;
    }
    __syncthreads();
    MaxSum<A> tot{neg_inf<A>(), A(0)};
    for (int w = 0; w < nw; ++w) tot.merge(sm[w], ss[w]);  // every thread, same fixed order
    const A inv = A(1) / tot.s, ls = ta_log(tot.s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      yr[j] = softmax_out<T>(static_cast<A>(xr[j]), tot.m, inv, ls, log);
    __syncthreads();  // sm/ss are reused by the next row
  }
}

// dx = y * (g - sum(g * y))  |  dx = g - exp(y) * sum(g)
template <class T, class A>
__device__ __forceinline__ T softmax_grad(A g, A y, A dot, bool log) {
  return static_cast<T>(log ? g - t_exp(y) * dot : y * (g - dot));
}

template <class T>
__global__ void __launch_bounds__(kWarpKernelThreads)
    softmax_bwd_warp_kernel(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ dx,
                            int64_t ld_dx, int64_t rows, int n, bool log) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int wpb = blockDim.x >> 5;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * wpb + (threadIdx.x >> 5); r < rows;
       r += static_cast<int64_t>(gridDim.x) * wpb) {
    const T* gr = g + r * n;
    const T* yr = y + r * n;
    A dot = 0;
    for (int j = lane; j < n; j += 32)
      dot += log ? static_cast<A>(gr[j]) : static_cast<A>(gr[j]) * static_cast<A>(yr[j]);
    dot = warp_sum(dot);
    T* dr = dx + r * ld_dx;
    for (int j = lane; j < n; j += 32)
      dr[j] = softmax_grad<T>(static_cast<A>(gr[j]), static_cast<A>(yr[j]), dot, log);
  }
}

template <class T>
__global__ void softmax_bwd_block_kernel(const T* __restrict__ g, const T* __restrict__ y,
                                         T* __restrict__ dx, int64_t ld_dx, int64_t rows,
                                         int64_t n, bool log) {
  using A = acc_t<T>;
  __shared__ A part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* gr = g + r * n;
    const T* yr = y + r * n;
    A dot = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      dot += log ? static_cast<A>(gr[j]) : static_cast<A>(gr[j]) * static_cast<A>(yr[j]);
    dot = warp_sum(dot);
    if (lane == 0) part[warp] = dot;
    __syncthreads();
    A tot = 0;
    for (int w = 0; w < nw; ++w) tot += part[w];
    T* dr = dx + r * ld_dx;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      dr[j] = softmax_grad<T>(static_cast<A>(gr[j]), static_cast<A>(yr[j]), tot, log);
    __syncthreads();
  }
}

struct RowLaunch {
  bool warp_per_row;
  int threads;
  int grid;
};

RowLaunch row_launch(int64_t rows, int64_t n) {
  const int64_t sms = sm_count();
  if (n <= kWarpRowMax) {
    const int wpb = kWarpKernelThreads / 32;
    return {true, kWarpKernelThreads, static_cast<int>(std::min(cdiv(rows, wpb), sms * 16))};
  }
  const int threads = n <= 4096 ? 256 : 512;
  return {false, threads, static_cast<int>(std::min(rows, sms * (2048 / threads)))};
}

}  // namespace

void softmax_forward(const at::Tensor& x, const at::Tensor& y, bool log) {
  const int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0 || n == 0) return;
  const RowLaunch l = row_launch(rows, n);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "torch_act_softmax_fwd", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    if (l.warp_per_row) {
      softmax_fwd_warp_kernel<scalar_t><<<l.grid, l.threads, 0, stream>>>(xp, yp, rows, static_cast<int>(n), log);
    } else {
      softmax_fwd_block_kernel<scalar_t><<<l.grid, l.threads, 0, stream>>>(xp, yp, rows, n, log);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void softmax_backward(const at::Tensor& g, const at::Tensor& y, const at::Tensor& dx, bool log) {
  const int64_t rows = g.size(0), n = g.size(1);
  if (rows == 0 || n == 0) return;
  const RowLaunch l = row_launch(rows, n);
  const int64_t ld = dx.stride(0);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_softmax_bwd", [&] {
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* yp = y.const_data_ptr<scalar_t>();
    scalar_t* dp = dx.data_ptr<scalar_t>();
    if (l.warp_per_row) {
      softmax_bwd_warp_kernel<scalar_t><<<l.grid, l.threads, 0, stream>>>(gp, yp, dp, ld, rows, static_cast<int>(n), log);
    } else {
      softmax_bwd_block_kernel<scalar_t><<<l.grid, l.threads, 0, stream>>>(gp, yp, dp, ld, rows, n, log);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace cuda
}  // namespace torch_act
