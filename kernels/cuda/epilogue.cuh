// torch_act — the GEMM epilogue shared by the tensor-core and SIMT GEMM
// kernels: z = acc + bias, optional store of z (preact), y = act(z), store.
//
// The block's fp32 (fp64) accumulator tile is first staged in shared memory
// (the mainloop buffers are dead by then); then each thread takes 8
// consecutive columns of one row, adds the bias, applies the activation in
// registers and writes 8 outputs with 16-byte stores (scalar stores at a
// ragged right edge or when N % 8 != 0).  The activation is a *runtime*
// choice among the built-ins (visit_builtin over TORCH_ACT_BUILTIN_ACTIVATIONS)
// around this small loop, so each GEMM mainloop is compiled once per layout
// rather than once per activation; a plugin's activation runs as a separate
// elementwise pass (linear.cu), since nvcc cannot reach across libraries.  Softmax / log_softmax are fused
// when the whole row is in the tile (N <= BN): a warp per row reduces max and
// sum straight from shared memory.  Wider rows are written as z here and
// normalised by the row kernel afterwards (rowwise.cu).
#pragma once

#include "common.cuh"

namespace torch_act {
namespace cuda {

struct EpiArgs {
  void* out = nullptr;          // [M, N], row stride ldo
  void* preact = nullptr;       // nullable, [M, N], row stride ldo
  const void* bias = nullptr;   // nullable, [N]
  int64_t ldo = 0;
  int act = 0;                  // index in TORCH_ACT_BUILTIN_ACTIVATIONS (0: identity)
  bool log = false;             // row activation: log_softmax (else softmax)
  double alpha = 0.0;
  bool fuse_rowwise = false;    // act is softmax/log_softmax and N <= BN
  bool vec = false;             // N % 8 == 0 and out / preact 16-byte aligned
};

template <class T, class Acc, int BM, int BN, int THREADS>
__device__ __forceinline__ void epilogue_rowwise(Acc* stage, int lds, const EpiArgs& e, int rows,
                                                 int cols, int64_t m0) {
  T* out = static_cast<T*>(e.out);
  T* pre = static_cast<T*>(e.preact);
  const T* bias = static_cast<const T*>(e.bias);
  const bool log = e.log;
  const int lane = threadIdx.x & 31;
  constexpr int NW = THREADS / 32;
  for (int r = threadIdx.x / 32; r < rows; r += NW) {
    Acc* sr = stage + r * lds;
    const int64_t off = (m0 + r) * e.ldo;
    Acc mx = neg_inf<Acc>();
    for (int j = lane; j < cols; j += 32) {
      const Acc z = sr[j] + (bias != nullptr ? static_cast<Acc>(bias[j]) : Acc(0));
      sr[j] = z;
      if (pre != nullptr) pre[off + j] = static_cast<T>(z);
      mx = nan_skip_max(mx, z);
    }
    mx = warp_max(mx);
    Acc s = 0;
    for (int j = lane; j < cols; j += 32) s += act_math::t_exp(sr[j] - mx);
    s = warp_sum(s);
    const Acc inv = Acc(1) / s, ls = ta_log(s);
    for (int j = lane; j < cols; j += 32)
      out[off + j] = static_cast<T>(log ? sr[j] - mx - ls : act_math::t_exp(sr[j] - mx) * inv);
  }
}

// stage: [BM][lds] accumulators of the tile at (m0, n0); all threads call this.
template <class T, class Acc, int BM, int BN, int THREADS>
__device__ __forceinline__ void epilogue_store(Acc* stage, int lds, const EpiArgs& e, int64_t M,
                                               int64_t N, int64_t m0, int64_t n0) {
  const int rows = static_cast<int>(M - m0 < BM ? M - m0 : BM);
  const int cols = static_cast<int>(N - n0 < BN ? N - n0 : BN);
  if (e.fuse_rowwise) {
    epilogue_rowwise<T, Acc, BM, BN, THREADS>(stage, lds, e, rows, cols, m0);
    return;
  }
  T* out = static_cast<T*>(e.out);
  T* pre = static_cast<T*>(e.preact);
  const T* bias = static_cast<const T*>(e.bias);
  const Acc alpha = static_cast<Acc>(e.alpha);
  visit_builtin(e.act, [&](auto op) {
    using Op = decltype(op);
    if constexpr (Op::kRowwise == Rowwise::None) {
      constexpr int V = 8, CPR = BN / V;
#pragma unroll 1
      for (int c = threadIdx.x; c < BM * CPR; c += THREADS) {
        const int r = c / CPR, cc = (c % CPR) * V;
        if (r >= rows || cc >= cols) continue;
        const Acc* src = stage + r * lds + cc;
        const int64_t off = (m0 + r) * e.ldo + n0 + cc;
        const T* b = bias != nullptr ? bias + n0 + cc : nullptr;
        if (e.vec) {  // N % 8 == 0, so the whole chunk is inside
          VecT<T, V> zv, yv;
#pragma unroll
          for (int i = 0; i < V; ++i) {
            const Acc z = src[i] + (b != nullptr ? static_cast<Acc>(b[i]) : Acc(0));
            zv.v[i] = static_cast<T>(z);
            yv.v[i] = static_cast<T>(Op::forward(z, alpha));
          }
          if (pre != nullptr) *reinterpret_cast<VecT<T, V>*>(pre + off) = zv;
          *reinterpret_cast<VecT<T, V>*>(out + off) = yv;
        } else {
          const int lim = cols - cc < V ? cols - cc : V;
          for (int i = 0; i < lim; ++i) {
            const Acc z = src[i] + (b != nullptr ? static_cast<Acc>(b[i]) : Acc(0));
            if (pre != nullptr) pre[off + i] = static_cast<T>(z);
            out[off + i] = static_cast<T>(Op::forward(z, alpha));
          }
        }
      }
    }
  });
}

}  // namespace cuda
}  // namespace torch_act
