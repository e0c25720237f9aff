// torch_act — small device helpers shared by the CUDA kernels: accumulator
// types, 16-byte vector types, warp reductions, launch helpers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../activations.h"

namespace torch_act {
namespace cuda {

// float32 accumulation for float / half / bfloat16, float64 for double.
template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };
template <class T> using acc_t = typename AccOf<T>::type;

// N elements of T moved as one aligned unit (16 bytes: 8 half, 4 float, 2 double).
template <class T, int N>
struct alignas(sizeof(T) * N) VecT {
  T v[N];
};
template <class T> constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

inline bool aligned_to(const void* p, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

__device__ __forceinline__ float ta_log(float x) { return logf(x); }
__device__ __forceinline__ double ta_log(double x) { return log(x); }

template <class A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -INFINITY; }
template <> __device__ __forceinline__ double neg_inf<double>() { return -static_cast<double>(INFINITY); }

template <class A> __device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// max that ignores NaN operands (NaN then shows up through the sum of exp).
template <class A> __device__ __forceinline__ A nan_skip_max(A a, A b) { return b > a ? b : a; }
template <class A> __device__ __forceinline__ A warp_max(A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = nan_skip_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Number of SMs / compute capability major of the current device (cached).
int sm_count();
int cc_major();

}  // namespace cuda
}  // namespace torch_act
