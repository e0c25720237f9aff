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
//
// GLU mode (EpiArgs::glu, linear_glu's forward, glu.cu): the GEMM ran over
// interleaved weights, so in every BN-wide column tile the first BN/2
// columns are gate products and the last BN/2 the up products of the same
// BN/2 output columns.  Each thread takes 8 consecutive output columns of one
// row, reads z_gate from stage[r][j] and z_up from stage[r][BN/2 + j], adds
// the two biases, optionally stores [z_gate | z_up], and writes
// act(z_gate) * z_up once.
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
                                // (GLU: glu_n % 8 == 0, 8-element aligned)
  // GLU mode (epilogue_glu): out [M, glu_n] (ldo = glu_n), preact nullable
  // [M, 2 glu_n] receiving [z_gate | z_up], bias the gate bias and bias_up the
  // up bias (each [glu_n], nullable), act an elementwise built-in.
  bool glu = false;
  int64_t glu_n = 0;
  const void* bias_up = nullptr;
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

// GLU: the tile at GEMM column n0 (a multiple of BN) holds output columns
// c0 = n0 / 2 .. c0 + BN/2 - 1: gate products in stage columns [0, BN/2), up
// products in [BN/2, BN).  rows: valid rows of the tile.
template <class T, class Acc, int BM, int BN, int THREADS>
__device__ __forceinline__ void epilogue_glu(const Acc* stage, int lds, const EpiArgs& e, int rows,
                                             int64_t m0, int64_t n0) {
  constexpr int H = BN / 2, V = 8, CPR = H / V;
  static_assert(BN % 2 == 0 && H % V == 0, "GLU: half a tile must be whole 8-column chunks");
  const int64_t N = e.glu_n;
  const int64_t c0 = n0 / 2;
  if (c0 >= N) return;
  const int cols = static_cast<int>(N - c0 < H ? N - c0 : H);
  T* out = static_cast<T*>(e.out);
  T* z = static_cast<T*>(e.preact);
  const T* bg = static_cast<const T*>(e.bias);
  const T* bu = static_cast<const T*>(e.bias_up);
  const Acc alpha = static_cast<Acc>(e.alpha);
  visit_builtin(e.act, [&](auto op) {
    using Op = decltype(op);
    if constexpr (Op::kRowwise == Rowwise::None) {
#pragma unroll 1
      for (int c = threadIdx.x; c < BM * CPR; c += THREADS) {
        const int r = c / CPR, j = (c % CPR) * V;
        if (r >= rows || j >= cols) continue;
        const Acc* sg = stage + r * lds + j;  // z_gate (no bias yet)
        const Acc* su = sg + H;               // z_up of the same output columns
        const int64_t col = c0 + j;
        const int64_t oo = (m0 + r) * e.ldo + col;  // out [M, N]
        const int64_t zo = (m0 + r) * 2 * N + col;  // z [M, 2N]: gate at zo, up at zo + N
        if (e.vec) {  // N % 8 == 0, so the whole chunk is inside
          // z first, then out (re-reading the staged sums): fewer live registers
          if (z != nullptr) {
            VecT<T, V> gv, uv;
#pragma unroll
            for (int i = 0; i < V; ++i) {
              gv.v[i] = static_cast<T>(sg[i] + (bg != nullptr ? static_cast<Acc>(bg[col + i]) : Acc(0)));
              uv.v[i] = static_cast<T>(su[i] + (bu != nullptr ? static_cast<Acc>(bu[col + i]) : Acc(0)));
            }
            *reinterpret_cast<VecT<T, V>*>(z + zo) = gv;
            *reinterpret_cast<VecT<T, V>*>(z + zo + N) = uv;
          }
          VecT<T, V> yv;
#pragma unroll
          for (int i = 0; i < V; ++i) {
            const Acc zg = sg[i] + (bg != nullptr ? static_cast<Acc>(bg[col + i]) : Acc(0));
            const Acc zu = su[i] + (bu != nullptr ? static_cast<Acc>(bu[col + i]) : Acc(0));
            yv.v[i] = static_cast<T>(Op::forward(zg, alpha) * zu);
          }
          *reinterpret_cast<VecT<T, V>*>(out + oo) = yv;
        } else {
          const int lim = cols - j < V ? cols - j : V;
          for (int i = 0; i < lim; ++i) {
            const Acc zg = sg[i] + (bg != nullptr ? static_cast<Acc>(bg[col + i]) : Acc(0));
            const Acc zu = su[i] + (bu != nullptr ? static_cast<Acc>(bu[col + i]) : Acc(0));
            if (z != nullptr) {
              z[zo + i] = static_cast<T>(zg);
              z[zo + N + i] = static_cast<T>(zu);
            }
            out[oo + i] = static_cast<T>(Op::forward(zg, alpha) * zu);
          }
        }
      }
    }
  });
}

// stage: [BM][lds] accumulators of the tile at (m0, n0); all threads call this.
template <class T, class Acc, int BM, int BN, int THREADS>
__device__ __forceinline__ void epilogue_store(Acc* stage, int lds, const EpiArgs& e, int64_t M,
                                               int64_t N, int64_t m0, int64_t n0) {
  const int rows = static_cast<int>(M - m0 < BM ? M - m0 : BM);
  const int cols = static_cast<int>(N - n0 < BN ? N - n0 : BN);
  if (e.glu) {
    epilogue_glu<T, Acc, BM, BN, THREADS>(stage, lds, e, rows, m0, n0);
    return;
  }
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
