// torch_act — the CUDA kernels that depend on the activation, written once as
// templates on its functor (kernels/activations.h) and instantiated by each
// registration: the built-ins (builtins.cu) and a user's plugin alike.
//
//  * act_fwd_kernel / act_bwd_kernel: y = Op::forward(x, a), dx =
//    Op::backward(g, s, a), elementwise (half / bfloat16 widened to float).
//    256 threads per block, grid-stride loop with int64 indices, grid capped at
//    8 blocks per SM; 16 bytes per tensor per thread and step (8 half, 4 float,
//    2 double) when every pointer is 16-byte aligned, else one element.
//    Limited by DRAM bandwidth (forward reads 1 and writes 1 tensor, backward
//    reads 2 and writes 1); fp64 transcendentals get close to compute bound.
//  * dact_bias_kernel: dz = Op::backward(g, s, a) for a 64-column x R-row block
//    of [M, N] (256 threads: a warp per row, 2 adjacent columns per lane, so a
//    warp reads 128-256 contiguous bytes of g), optionally stores dz, and sums
//    its columns into per-block partials (warp sums combined in shared memory
//    in a fixed order); bias_grad_finalize adds the partials of each column in
//    row-block order: deterministic, no atomics.  Bandwidth bound.
// make_act_kernels<Op>() returns the ActKernels table (cuda_ops.h) of these.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "common.cuh"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class T, class Op>
__global__ void __launch_bounds__(kThreads)
    act_fwd_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, acc_t<T> alpha, bool vec) {
  using A = acc_t<T>;
  constexpr int V = kVec16<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t tail = 0;
  if (vec) {
    const int64_t nv = n / V;
    const auto* xv = reinterpret_cast<const VecT<T, V>*>(x);
    auto* yv = reinterpret_cast<VecT<T, V>*>(y);
    for (int64_t i = tid; i < nv; i += stride) {
      const VecT<T, V> in = xv[i];
      VecT<T, V> o;
#pragma unroll
      for (int j = 0; j < V; ++j) o.v[j] = static_cast<T>(Op::forward(static_cast<A>(in.v[j]), alpha));
      yv[i] = o;
    }
    tail = nv * V;
  }
  for (int64_t i = tail + tid; i < n; i += stride)
    y[i] = static_cast<T>(Op::forward(static_cast<A>(x[i]), alpha));
}

template <class T, class Op>
__global__ void __launch_bounds__(kThreads)
    act_bwd_kernel(const T* __restrict__ g, const T* __restrict__ s, T* __restrict__ dx, int64_t n,
                   acc_t<T> alpha, bool vec) {
  using A = acc_t<T>;
  constexpr int V = kVec16<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t tail = 0;
  if (vec) {
    const int64_t nv = n / V;
    const auto* gv = reinterpret_cast<const VecT<T, V>*>(g);
    const auto* sv = reinterpret_cast<const VecT<T, V>*>(s);
    auto* dv = reinterpret_cast<VecT<T, V>*>(dx);
    for (int64_t i = tid; i < nv; i += stride) {
      const VecT<T, V> gi = gv[i];
      VecT<T, V> si;
      if (s != nullptr) {
        si = sv[i];
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) si.v[j] = static_cast<T>(0.0f);
      }
      VecT<T, V> o;
#pragma unroll
      for (int j = 0; j < V; ++j)
        o.v[j] = static_cast<T>(
            Op::backward(static_cast<A>(gi.v[j]), static_cast<A>(si.v[j]), alpha));
      dv[i] = o;
    }
    tail = nv * V;
  }
  for (int64_t i = tail + tid; i < n; i += stride) {
    const A si = s != nullptr ? static_cast<A>(s[i]) : A(0);
    dx[i] = static_cast<T>(Op::backward(static_cast<A>(g[i]), si, alpha));
  }
}

int grid_for(int64_t work) {
  const int64_t cap = static_cast<int64_t>(sm_count()) * (2048 / kThreads);
  const int64_t blocks = cdiv(work, kThreads);
  return static_cast<int>(std::max<int64_t>(1, std::min(blocks, cap)));
}

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


template <class Op>
void elementwise_forward_t(const at::Tensor& x, const at::Tensor& out, double alpha) {
  const int64_t n = x.numel();
  if (n == 0) return;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "torch_act_act_fwd", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    T* yp = out.data_ptr<T>();
    const bool vec = aligned_to(xp, 16) && aligned_to(yp, 16);
    const int grid = grid_for(vec ? cdiv(n, kVec16<T>) : n);
    act_fwd_kernel<T, Op><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        xp, yp, n, static_cast<acc_t<T>>(alpha), vec);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

template <class Op>
void elementwise_backward_t(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dx,
                            double alpha) {
  const int64_t n = g.numel();
  if (n == 0) return;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_act_bwd", [&] {
    using T = scalar_t;
    const T* gp = g.const_data_ptr<T>();
    const T* sp = s.defined() ? s.const_data_ptr<T>() : nullptr;
    T* dp = dx.data_ptr<T>();
    const bool vec = aligned_to(gp, 16) && aligned_to(sp, 16) && aligned_to(dp, 16);
    const int grid = grid_for(vec ? cdiv(n, kVec16<T>) : n);
    act_bwd_kernel<T, Op><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        gp, sp, dp, n, static_cast<acc_t<T>>(alpha), vec);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

// out = D_Order(g, s) (backward2 / backward3), one element per thread and
// grid-stride step; memory bound.
template <class T, class Op, int Order>
__global__ void __launch_bounds__(kThreads)
    act_deriv_kernel(const T* __restrict__ g, const T* __restrict__ s, T* __restrict__ out,
                     int64_t n, acc_t<T> alpha) {
  using A = acc_t<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const A gi = static_cast<A>(g[i]), si = static_cast<A>(s[i]);
    if constexpr (Order == 2)
      out[i] = static_cast<T>(Op::backward2(gi, si, alpha));
    else
      out[i] = static_cast<T>(Op::backward3(gi, si, alpha));
  }
}

template <class Op>
void elementwise_deriv_t(const at::Tensor& g, const at::Tensor& s, const at::Tensor& out,
                         double alpha, int order) {
  const int64_t n = g.numel();
  if (n == 0) return;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_act_deriv", [&] {
    using T = scalar_t;
    const int grid = grid_for(n);
    auto stream = at::cuda::getCurrentCUDAStream();
    if constexpr (HasBackward2<Op>::value) {
      if (order == 2)
        act_deriv_kernel<T, Op, 2><<<grid, kThreads, 0, stream>>>(
            g.const_data_ptr<T>(), s.const_data_ptr<T>(), out.data_ptr<T>(), n,
            static_cast<acc_t<T>>(alpha));
    }
    if constexpr (HasBackward3<Op>::value) {
      if (order == 3)
        act_deriv_kernel<T, Op, 3><<<grid, kThreads, 0, stream>>>(
            g.const_data_ptr<T>(), s.const_data_ptr<T>(), out.data_ptr<T>(), n,
            static_cast<acc_t<T>>(alpha));
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

template <class Op>
void dact_bias_any(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dz,
                   const at::Tensor& db, double alpha) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "torch_act_dact", [&] {
    dact_bias<scalar_t, Op>(g, s, dz, db, alpha);
  });
}

}  // namespace

// The activation-dependent CUDA kernels of functor Op; `epilogue` is its index
// in the GEMM epilogue's built-in list (epilogue.cuh), -1 for a plugin's
// functor (then the GEMM stores z and `forward` runs over the output).
template <class Op>
ActKernels make_act_kernels(int epilogue) {
  ActKernels k;
  k.epilogue = epilogue;
  if constexpr (Op::kRowwise == Rowwise::None) {
    k.forward = &elementwise_forward_t<Op>;
    k.backward = &elementwise_backward_t<Op>;
    k.dact_bias = &dact_bias_any<Op>;
    if constexpr (HasBackward2<Op>::value) k.deriv = &elementwise_deriv_t<Op>;
  }
  return k;
}

}  // namespace cuda
}  // namespace torch_act
