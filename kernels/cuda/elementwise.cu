// torch_act — elementwise activation forward / backward on CUDA, and the
// activation_forward / activation_backward entry points (row activations go
// to rowwise.cu).
//
// Computes y = Op::forward(x, a) and dx = Op::backward(g, s, a) with the
// functors of activations.h (half / bfloat16 widened to float).
// Threads: 256 per block, grid-stride loop with int64 indices, grid capped at
// 8 blocks per SM; each step moves 16 bytes per tensor per thread (8 half,
// 4 float, 2 double) when every pointer is 16-byte aligned, else one element.
// Speed: limited by DRAM bandwidth (forward reads 1 and writes 1 tensor,
// backward reads 2 and writes 1); only the fp64 transcendental activations
// (gelu's erf, mish, ...) get close to being compute bound.

// dispatch_act (activations.h) is __host__ __device__; called here from host
// code with host lambdas, which nvcc flags (20011, 20014) although no device
// code ever makes that call.
#pragma nv_diag_suppress 20011
#pragma nv_diag_suppress 20014

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <atomic>

#include "common.cuh"
#include "internal.h"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {

constexpr int kMaxDevices = 64;

namespace {
// Per-device attribute cache (cudaDeviceGetAttribute does not synchronise, but
// is not free either).  Benign race: concurrent first calls store the same value.
int cached_attribute(cudaDeviceAttr attr, std::atomic<int>* cache) {
  const int dev = c10::cuda::current_device();
  TORCH_CHECK(dev >= 0 && dev < kMaxDevices, "torch_act: device index ", dev, " out of range");
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v <= 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, dev));
    cache[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}
std::atomic<int> g_sms[kMaxDevices], g_major[kMaxDevices];  // 0: not yet read
}  // namespace

int sm_count() { return cached_attribute(cudaDevAttrMultiProcessorCount, g_sms); }
int cc_major() { return cached_attribute(cudaDevAttrComputeCapabilityMajor, g_major); }

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

}  // namespace

void elementwise_forward(const at::Tensor& x, const at::Tensor& out, Act act, double alpha) {
  const int64_t n = x.numel();
  if (n == 0) return;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "torch_act_act_fwd", [&] {
    using T = scalar_t;
    const T* xp = x.const_data_ptr<T>();
    T* yp = out.data_ptr<T>();
    const bool vec = aligned_to(xp, 16) && aligned_to(yp, 16);
    const int grid = grid_for(vec ? cdiv(n, kVec16<T>) : n);
    auto stream = at::cuda::getCurrentCUDAStream();
    dispatch_act(act, [&](auto op) {
      using Op = decltype(op);
      if constexpr (!Op::kRowwise) {
        act_fwd_kernel<T, Op><<<grid, kThreads, 0, stream>>>(xp, yp, n, static_cast<acc_t<T>>(alpha), vec);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      } else {
        TORCH_CHECK(false, "torch_act: elementwise_forward called with a row activation");
      }
    });
  });
}

void elementwise_backward(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dx, Act act,
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
    auto stream = at::cuda::getCurrentCUDAStream();
    dispatch_act(act, [&](auto op) {
      using Op = decltype(op);
      if constexpr (!Op::kRowwise) {
        act_bwd_kernel<T, Op><<<grid, kThreads, 0, stream>>>(gp, sp, dp, n, static_cast<acc_t<T>>(alpha), vec);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      } else {
        TORCH_CHECK(false, "torch_act: elementwise_backward called with a row activation");
      }
    });
  });
}

void activation_forward(const at::Tensor& x, Act act, double alpha, const at::Tensor& out) {
  if (x.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  if (act_info(act).rowwise) {
    const int64_t n = x.size(-1);
    softmax_forward(x.view({-1, n}), out.view({-1, n}), act == Act::LogSoftmax);
  } else {
    elementwise_forward(x, out, act, alpha);
  }
}

void activation_backward(const at::Tensor& g, const at::Tensor& s, Act act, double alpha,
                         const at::Tensor& dx) {
  if (g.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(g.device());
  if (act_info(act).rowwise) {
    const int64_t n = g.size(-1);
    softmax_backward(g.view({-1, n}), s.view({-1, n}), dx.view({-1, n}), act == Act::LogSoftmax);
  } else {
    elementwise_backward(g, s, dx, act, alpha);
  }
}

}  // namespace cuda
}  // namespace torch_act
