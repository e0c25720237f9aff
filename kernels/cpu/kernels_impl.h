// torch_act — the CPU kernels, written once for any SIMD type.  NOT a
// standalone header: an ISA TU (kernels_avx512.cpp, kernels_avx2.cpp,
// kernels_portable.cpp) sets its target, includes its simd_*.h, defines
// TA_ISA (its namespace) and TA_TABLE_FN (the exported table getter), then
// includes this file.  Everything below lands in torch_act::cpu::TA_ISA::
// (anonymous namespace: internal linkage), so the per-ISA copies can never be
// merged by the linker.
//
// What is here (threads and workspaces belong to the driver, linear_act.cpp):
//  * packing: A [M,K] once per call into mr-row panels, K-block-major
//    ([kc][mr] per panel; bf16 pairs [kc/2][mr][2]; AMX row-major [mr][kc+pad]);
//    B^T [N,K] per task into an L2-resident kc x nc slice of nr-column panels.
//    Any strides and dtypes, converted to the compute type: k-contiguous
//    sources through W x W register transposes, row-contiguous ones k-outer
//    with vector copies (+ software prefetch), the rest scalar.
//  * register-blocked microkernels: an MR x (NV*W) C tile in vector registers
//    over one K block (broadcast A, vector B; FMA, or vdpbf16ps on bf16
//    pairs); on the last K block the epilogue adds the bias, stores the
//    optional pre-activation, applies the activation functor to the SIMD
//    vectors and stores once (bf16/fp16 rounding included).  AMX: a 32 x 32
//    tile block in tmm0-3, spilled once and finished by the same epilogue.
//  * gemm_task: one mc x nc block of C; per K block pack the B slice, then for
//    each A micro-panel (kept in L1) sweep the B panels (streamed from L2);
//    partial sums between K blocks in `out` or an fp32 scratch.
//    K blocks are long (up to 8 KiB / element): the C tile stays in registers
//    for all of K and A / B stream from L2 with software prefetch.
//    Speed (fp32, Sapphire Rapids, one core): ~84-87% of the 2 x 16-lane FMA
//    peak for 2048^3 / 512x3072x768; limits are L2->L1 traffic, the packing
//    passes (memory bandwidth) and, for small K, the epilogue.
//  * the direct path for small shapes (no A packing, w^T in a small buffer),
//    elementwise activations, softmax rows, and the fused backward pass
//    through the activation (dz) with the bias-gradient column sums.

#ifndef TA_ISA
#error "kernels_impl.h is included by an ISA TU after defining TA_ISA"
#endif
#ifndef TA_L2_BYTES
#define TA_L2_BYTES (2048 * 1024)
#endif
#ifndef TA_PF_B
#define TA_PF_B 8
#endif
#ifndef TA_PF_A
#define TA_PF_A 16
#endif
#ifndef TA_AMX_KC
#define TA_AMX_KC 2048
#endif

namespace torch_act {
namespace cpu {
namespace TA_ISA {
namespace {

// ------------------------------------------------------------------ helpers
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

#define TA_INLINE inline __attribute__((always_inline))

template <class V>
TA_INLINE V load_any(const void* p, DT dt, int64_t idx, int n) {
  if constexpr (sizeof(typename V::Scalar) == 8) {
    return load_n(static_cast<const double*>(p) + idx, n);
  } else {
    switch (dt) {
      case DT::BF16: return load_n(static_cast<const bf16_t*>(p) + idx, n);
      case DT::F16: return load_n(static_cast<const f16_t*>(p) + idx, n);
      default: return load_n(static_cast<const float*>(p) + idx, n);
    }
  }
}

template <class V>
TA_INLINE void store_any(void* p, DT dt, int64_t idx, V v, int n) {
  if constexpr (sizeof(typename V::Scalar) == 8) {
    store_n(static_cast<double*>(p) + idx, v, n);
  } else {
    switch (dt) {
      case DT::BF16: store_n(static_cast<bf16_t*>(p) + idx, v, n); break;
      case DT::F16: store_n(static_cast<f16_t*>(p) + idx, v, n); break;
      default: store_n(static_cast<float*>(p) + idx, v, n); break;
    }
  }
}

inline float scalar_f32(const void* p, DT dt, int64_t idx) {
  switch (dt) {
    case DT::BF16: return to_f32(static_cast<const bf16_t*>(p)[idx]);
    case DT::F16: return to_f32(static_cast<const f16_t*>(p)[idx]);
    case DT::F64: return float(static_cast<const double*>(p)[idx]);
    default: return static_cast<const float*>(p)[idx];
  }
}

// Loads n (<= W) elements spaced `stride` apart (stride 1: a vector load).
template <class V, class T>
inline V load_strided(const T* p, int64_t stride, int n) {
  if (stride == 1) return load_n(p, n);
  typename V::Scalar buf[V::W];
  for (int i = 0; i < V::W; ++i) {
    if constexpr (sizeof(typename V::Scalar) == 8)
      buf[i] = i < n ? p[i * stride] : 0.0;
    else
      buf[i] = i < n ? to_f32(p[i * stride]) : 0.0f;
  }
  return load_n(buf, V::W);
}

// --------------------------------------------------------------- packing
// dst(r, k) for an R-row panel: [Kp][R] (or pairs [Kp/2][R][2]).
template <bool Pairs>
inline int64_t pidx(int64_t r, int64_t k, int R) {
  if constexpr (Pairs)
    return (k >> 1) * (2 * R) + 2 * r + (k & 1);
  else
    return k * R + r;
}

template <class Dst>
inline Dst zero_of() {
  if constexpr (sizeof(Dst) == 2)
    return Dst{0};
  else
    return Dst(0);
}

template <class Dst, class Src>
inline void conv_store(Dst* d, Src s) {
  if constexpr (sizeof(Dst) == 8) {
    *d = double(s);
  } else if constexpr (sizeof(Dst) == 4) {
    *d = to_f32(s);
  } else {  // bf16 pairs
    if constexpr (sizeof(Src) == 2)
      *d = s;  // bf16 -> bf16
    else
      from_f32(to_f32(s), d);
  }
}

// General (scalar) packing of rows [0, rows) of src into an R-row panel.
template <bool Pairs, class Dst, class Src>
void pack_panel_scalar(const Src* src, int64_t rs, int64_t cs, int64_t rows, int R, int64_t K,
                       int64_t Kp, Dst* dst) {
  const Dst z = zero_of<Dst>();
  if (cs != 1 && (rs == 1 || (cs > rs && rs != 0))) {
    for (int64_t k = 0; k < Kp; ++k)
      for (int r = 0; r < R; ++r) {
        Dst* d = dst + pidx<Pairs>(r, k, R);
        if (r < rows && k < K)
          conv_store(d, src[r * rs + k * cs]);
        else
          *d = z;
      }
  } else {
    for (int r = 0; r < R; ++r)
      for (int64_t k = 0; k < Kp; ++k) {
        Dst* d = dst + pidx<Pairs>(r, k, R);
        if (r < rows && k < K)
          conv_store(d, src[r * rs + k * cs]);
        else
          *d = z;
      }
  }
}

// k-contiguous source (cs == 1), float/double destination: W x W transposes.
template <class V, class Dst, class Src>
void pack_panel_transpose(const Src* src, int64_t rs, int64_t rows, int R, int64_t K, int64_t Kp,
                          Dst* dst) {
  constexpr int W = V::W;
  for (int r0 = 0; r0 < R; r0 += W) {
    const int nr = int(imin(W, R - r0));             // lanes to store
    const int nrv = int(imax(0, imin(nr, rows - r0)));  // rows with data
    for (int64_t k0 = 0; k0 < K; k0 += W) {
      const int nk = int(imin(W, K - k0));
      V t[W];
      for (int i = 0; i < W; ++i) {
        if (i < nrv && k0 + 4 * W < K) __builtin_prefetch(src + (r0 + i) * rs + k0 + 4 * W, 0, 3);
        t[i] = i < nrv ? load_n(src + (r0 + i) * rs + k0, nk) : V::zero();
      }
      transpose_vecs(t);
      for (int j = 0; j < nk; ++j) store_n(dst + (k0 + j) * R + r0, t[j], nr);
    }
    for (int64_t k = K; k < Kp; ++k) store_n(dst + k * R + r0, V::zero(), nr);
  }
}

// row-contiguous source (rs == 1): one vector copy per k and W rows.
template <class V, class Dst, class Src>
void pack_panel_rowcontig(const Src* src, int64_t cs, int64_t rows, int R, int64_t K, int64_t Kp,
                          Dst* dst) {
  constexpr int W = V::W;
  for (int64_t k = 0; k < Kp; ++k)
    for (int r0 = 0; r0 < R; r0 += W) {
      const int nr = int(imin(W, R - r0));
      const int nrv = int(imax(0, imin(nr, rows - r0)));
      V v = (k < K && nrv > 0) ? load_n(src + k * cs + r0, nrv) : V::zero();
      store_n(dst + k * R + r0, v, nr);
    }
}

#ifdef TA_HAS_BF16_DOT
// bf16 source with k contiguous: (k, k+1) pairs are 32-bit units, so packing
// pairs is a transpose of 32-bit lanes.
void pack_pairs_transpose(const bf16_t* src, int64_t rs, int64_t rows, int R, int64_t K,
                          int64_t Kp, bf16_t* dst) {
  constexpr int W = VecF::W;
  const int64_t K2 = K / 2;  // full pairs
  for (int r0 = 0; r0 < R; r0 += W) {
    const int nr = int(imin(W, R - r0));
    const int nrv = int(imax(0, imin(nr, rows - r0)));
    for (int64_t k0 = 0; k0 < K2; k0 += W) {
      const int nk = int(imin(W, K2 - k0));
      VecF t[W];
      for (int i = 0; i < W; ++i)
        t[i] = i < nrv ? load_n(reinterpret_cast<const float*>(src + (r0 + i) * rs + 2 * k0), nk)
                       : VecF::zero();
      transpose_vecs(t);
      for (int j = 0; j < nk; ++j)
        store_n(reinterpret_cast<float*>(dst + (k0 + j) * 2 * R + 2 * r0), t[j], nr);
    }
    for (int64_t kp = K2; kp < Kp / 2; ++kp)
      for (int r = r0; r < r0 + nr; ++r) {
        bf16_t* d = dst + kp * 2 * R + 2 * r;
        d[0] = (2 * kp < K && r < rows) ? src[r * rs + 2 * kp] : bf16_t{0};
        d[1] = bf16_t{0};
      }
  }
}
#endif

#ifdef TA_HAS_BF16_DOT
inline __m256i bf16_bits(const bf16_t* p, int n) {
  return n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                 : _mm256_maskz_loadu_epi16(mask16(n), p);
}
inline __m256i bf16_bits(const float* p, int n) { return f32_to_bf16(load_n(p, n)); }

// row-contiguous source (rs == 1) into pairs [Kp/2][R][2]: for each k pair,
// two contiguous row runs zipped into 32-bit (k, k+1) lanes.
template <class Src>
void pack_pairs_rowcontig(const Src* src, int64_t cs, int64_t rows, int R, int64_t K, int64_t Kp,
                          bf16_t* dst) {
  for (int64_t k = 0; k < Kp; k += 2) {
    for (int r0 = 0; r0 < R; r0 += 16) {
      const int nr = int(imin(16, R - r0));
      const int nrv = int(imax(0, imin(nr, rows - r0)));
      const __m256i z = _mm256_setzero_si256();
      const __m256i lo = (k < K && nrv > 0) ? bf16_bits(src + k * cs + r0, nrv) : z;
      const __m256i hi = (k + 1 < K && nrv > 0) ? bf16_bits(src + (k + 1) * cs + r0, nrv) : z;
      const __m512i v = _mm512_or_si512(_mm512_cvtepu16_epi32(lo),
                                        _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      float* d = reinterpret_cast<float*>(dst + k * R + 2 * r0);
      store_n(d, VecF(_mm512_castsi512_ps(v)), nr);
    }
  }
}
#endif

template <class Dst, class Src>
void pack_panel(const Src* src, int64_t rs, int64_t cs, int64_t rows, int R, int64_t K,
                int64_t Kp, Dst* dst) {
  using V = typename std::conditional_t<sizeof(Dst) == 8, VecD, VecF>;
  if constexpr (sizeof(Dst) == 2) {  // bf16 pairs
#ifdef TA_HAS_BF16_DOT
    if constexpr (sizeof(Src) == 2) {
      if (cs == 1 && rows > 0) return pack_pairs_transpose(src, rs, rows, R, K, Kp, dst);
    }
    if constexpr (sizeof(Src) == 2 || std::is_same_v<Src, float>) {
      if (rs == 1 && cs != 1) return pack_pairs_rowcontig(src, cs, rows, R, K, Kp, dst);
    }
#endif
    return pack_panel_scalar<true>(src, rs, cs, rows, R, K, Kp, dst);
  } else {
    if (rows > 0 && cs == 1 && rs != 1) return pack_panel_transpose<V>(src, rs, rows, R, K, Kp, dst);
    if (rows > 0 && rs == 1)
      return pack_panel_rowcontig<V>(src, cs, rows, R, K, Kp, dst);
    return pack_panel_scalar<false>(src, rs, cs, rows, R, K, Kp, dst);
  }
}

// Packs rows [r0, r0 + R) (rows past nrows: zeros) and k in [k0, k0 + kcur) of
// m into one R-row panel [kcurp][R] (pairs: [kcurp/2][R][2]).
template <class Dst>
void pack_one(const MatRef& m, int64_t nrows, int64_t r0, int R, int64_t k0, int64_t kcur,
              int64_t kcurp, Dst* d) {
  const int64_t rows = imin(R, nrows - r0);
  const int64_t off = r0 * m.rs + k0 * m.cs;
  switch (m.dt) {
    case DT::F32:
      if constexpr (sizeof(Dst) != 8)
        pack_panel(static_cast<const float*>(m.p) + off, m.rs, m.cs, rows, R, kcur, kcurp, d);
      break;
    case DT::F64:
      if constexpr (sizeof(Dst) == 8)
        pack_panel(static_cast<const double*>(m.p) + off, m.rs, m.cs, rows, R, kcur, kcurp, d);
      break;
    case DT::BF16:
      if constexpr (sizeof(Dst) != 8)
        pack_panel(static_cast<const bf16_t*>(m.p) + off, m.rs, m.cs, rows, R, kcur, kcurp, d);
      break;
    case DT::F16:
      if constexpr (sizeof(Dst) == 4)
        pack_panel(static_cast<const f16_t*>(m.p) + off, m.rs, m.cs, rows, R, kcur, kcurp, d);
      break;
  }
}

#ifdef TA_HAS_AMX
// AMX A panel: rows [r0, r0 + R) of m, k in [k0, k0 + kcur), row-major
// [R][ld] bf16, zero padded (rows past nrows, k past kcur).
template <class Src>
void pack_rows_bf16(const Src* src, int64_t rs, int64_t cs, int64_t rows, int R, int64_t kcur,
                    int64_t kcurp, bf16_t* dst) {
  for (int r = 0; r < R; ++r) {
    bf16_t* d = dst + r * kcurp;
    int64_t k = 0;
    if (r < rows) {
      const Src* s = src + r * rs;
      if constexpr (sizeof(Src) == 2) {
        if (cs == 1) {
          __builtin_memcpy(d, s, size_t(kcur) * 2);
          k = kcur;
        }
      } else {
        if (cs == 1)
          for (; k + VecF::W <= kcur; k += VecF::W) store_n(d + k, load_n(s + k, VecF::W), VecF::W);
      }
      for (; k < kcur; ++k) conv_store(d + k, s[k * cs]);
    }
    for (; k < kcurp; ++k) d[k] = bf16_t{0};
  }
}

// rs == 1 source (rows contiguous for each k): 16 k x 16 rows blocks
// transposed in registers, rounded to bf16, stored as row runs of 16 k.
template <class Src>
void pack_rows_bf16_t(const Src* src, int64_t cs, int64_t rows, int R, int64_t kcur, int64_t ld,
                      bf16_t* dst) {
  for (int r0 = 0; r0 < R; r0 += 16) {
    const int nrv = int(imax(0, imin(16, rows - r0)));
    for (int64_t k0 = 0; k0 < ld; k0 += 16) {
      const int nk = int(imin(16, ld - k0));
      VecF t[16];
      for (int j = 0; j < 16; ++j)
        t[j] = (k0 + j < kcur && nrv > 0) ? load_n(src + (k0 + j) * cs + r0, nrv) : VecF::zero();
      transpose_vecs(t);
      for (int i = 0; i < 16 && r0 + i < R; ++i) store_n(dst + (r0 + i) * ld + k0, t[i], nk);
    }
  }
}

void pack_a_amx(const GemmProblem* p, const Blocking* bl, int64_t i0, int64_t i1, bf16_t* dst) {
  const int R = bl->mr;
  const int64_t Mp = round_up(p->M, R), K = p->K, kc = bl->kc;
  const MatRef& m = p->a;
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcur = imin(kc, K - k0), kcurp = round_up(kcur, bl->kalign);
    const int64_t ld = kcurp + bl->a_pad;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r0 = i * R, rows = imin(R, p->M - r0), off = r0 * m.rs + k0 * m.cs;
      bf16_t* d = dst + (k0 / kc) * (kc + bl->a_pad) * Mp + i * ld * R;
      const bool tr = m.rs == 1 && m.cs != 1;
      if (m.dt == DT::BF16) {
        const bf16_t* s0 = static_cast<const bf16_t*>(m.p) + off;
        tr ? pack_rows_bf16_t(s0, m.cs, rows, R, kcur, ld, d)
           : pack_rows_bf16(s0, m.rs, m.cs, rows, R, kcur, ld, d);
      } else {
        const float* s0 = static_cast<const float*>(m.p) + off;
        tr ? pack_rows_bf16_t(s0, m.cs, rows, R, kcur, ld, d)
           : pack_rows_bf16(s0, m.rs, m.cs, rows, R, kcur, ld, d);
      }
    }
  }
}
#endif

// Several consecutive R-row panels [r0, r0 + np*R) (panel stride pstride
// elements).  Row-contiguous sources (rs == 1) are read k-outer across all
// the panels, so each k touches one contiguous run of the source (a
// panel-at-a-time walk strides by cs per element and defeats the prefetchers).
template <class Dst>
void pack_many(const MatRef& m, int64_t nrows, int64_t r0, int64_t np, int R, int64_t k0,
               int64_t kcur, int64_t kcurp, Dst* dst, int64_t pstride) {
  using V = typename std::conditional_t<sizeof(Dst) == 8, VecD, VecF>;
  if (m.rs == 1 && m.cs != 1 && sizeof(Dst) != 2 && np > 1) {
    const auto run = [&](auto* src) {
      using Src = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
      constexpr int W = V::W;
      const int64_t span = imin(nrows, r0 + np * R) - r0;  // source elements per k
      for (int64_t k = 0; k < kcurp; ++k) {
        const Src* sk = src + (k0 + k) * m.cs;
        if (k + 8 < kcur)  // the run 8 rows ahead (rows are cs apart: no HW prefetch)
          for (int64_t o = 0; o < span; o += 64 / int64_t(sizeof(Src)))
            __builtin_prefetch(sk + 8 * m.cs + r0 + o, 0, 3);
        for (int64_t i = 0; i < np; ++i) {
          const int64_t rb = r0 + i * R;
          Dst* d = dst + i * pstride + k * R;
          for (int q = 0; q < R; q += W) {
            const int nr = int(imin(W, R - q));
            const int nrv = int(imax(0, imin(nr, nrows - rb - q)));
            store_n(d + q, (k < kcur && nrv > 0) ? load_n(sk + rb + q, nrv) : V::zero(), nr);
          }
        }
      }
    };
    switch (m.dt) {
      case DT::F32: if constexpr (sizeof(Dst) == 4) run(static_cast<const float*>(m.p)); return;
      case DT::F64: if constexpr (sizeof(Dst) == 8) run(static_cast<const double*>(m.p)); return;
      case DT::BF16: if constexpr (sizeof(Dst) == 4) run(static_cast<const bf16_t*>(m.p)); return;
      case DT::F16: if constexpr (sizeof(Dst) == 4) run(static_cast<const f16_t*>(m.p)); return;
    }
    return;
  }
  for (int64_t i = 0; i < np; ++i)
    pack_one(m, nrows, r0 + i * R, R, k0, kcur, kcurp, dst + i * pstride);
}

// A: every K block of panels [i0, i1), block-major (see Blocking).
template <class Dst>
void pack_a_t(const GemmProblem* p, const Blocking* bl, int64_t i0, int64_t i1, Dst* dst) {
  const int R = bl->mr;
  const int64_t Mp = round_up(p->M, R), K = p->K, kc = bl->kc;
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcur = imin(kc, K - k0), kcurp = round_up(kcur, bl->kalign);
    Dst* blk = dst + (k0 / kc) * (kc + bl->a_pad) * Mp;
    pack_many(p->a, p->M, i0 * R, i1 - i0, R, k0, kcur, kcurp, blk + i0 * kcurp * R, kcurp * R);
  }
}

void pack_a_fn(const GemmProblem* p, const Blocking* bl, int64_t i0, int64_t i1, void* dst) {
  switch (bl->kind) {
    case PackKind::AmxBf16:
#ifdef TA_HAS_AMX
      pack_a_amx(p, bl, i0, i1, static_cast<bf16_t*>(dst));
#endif
      break;
    case PackKind::F32: pack_a_t(p, bl, i0, i1, static_cast<float*>(dst)); break;
    case PackKind::F64: pack_a_t(p, bl, i0, i1, static_cast<double*>(dst)); break;
    case PackKind::BF16Pair: pack_a_t(p, bl, i0, i1, static_cast<bf16_t*>(dst)); break;
  }
}

// B slice: columns [n0, n1) (n0 a multiple of nr), k in [k0, k0 + kcur).
template <class Dst>
void pack_b_slice(const GemmProblem* p, const Blocking* bl, int64_t n0, int64_t n1, int64_t k0,
                  int64_t kcur, Dst* dst) {
  const int R = bl->nr;
  const int64_t kcurp = round_up(kcur, bl->kalign);
  pack_many(p->bt, n1, n0, (n1 - n0 + R - 1) / R, R, k0, kcur, kcurp, dst, kcurp * R);
}

// -------------------------------------------------------------- epilogue
struct Tile {
  const GemmProblem* p;
  int64_t m, n;     // origin in C
  int mv, nv;       // valid rows / columns
  bool first, last;
  void* c;          // partial sums (compute type) at this tile, row stride ldc
  int64_t ldc;
};

template <class V>
TA_INLINE V bias_vec(const GemmProblem* p, int64_t n, int nv) {
  if (!p->bias || nv <= 0) return V::zero();
  return load_any<V>(p->bias, p->bias_dt, n, nv);
}

// z (bias included) -> optional preact store, activation, store.
template <class Op, class V>
TA_INLINE void epilogue_store(const GemmProblem* p, int64_t m, int64_t n, V z, V alpha, int nv) {
  if (p->pre) store_any(p->pre, p->pre_dt, m * p->ldp + n, z, nv);
  store_any(p->out, p->out_dt, m * p->ldo + n, Op::forward(z, alpha), nv);
}

// The last K block's epilogue on the register tile, for one output type
// (resolved once per tile: no calls or dtype switches between the
// accumulators, which would spill all of them).
template <class Op, class OutT, int MR, int NV, class V>
TA_INLINE void finish_last(V (&acc)[MR][NV], const Tile& t) {
  constexpr int W = V::W;
  const GemmProblem* p = t.p;
  V bias[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) bias[v] = bias_vec<V>(p, t.n + v * W, t.nv - v * W);
  const V alpha = V(p->alpha);
  OutT* out = static_cast<OutT*>(p->out) + t.m * p->ldo + t.n;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i < t.mv) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int nv = t.nv - v * W;
        if (nv > 0) {
          const V z = acc[i][v] + bias[v];
          if (p->pre) store_any(p->pre, p->pre_dt, (t.m + i) * p->ldp + t.n + v * W, z, nv);
          store_n(out + i * p->ldo + v * W, Op::forward(z, alpha), nv);
        }
      }
    }
  }
}

template <class Op, int MR, int NV, class V>
inline void finish_tile(V (&acc)[MR][NV], const Tile& t) {
  constexpr int W = V::W;
  using S = typename V::Scalar;
  S* c = static_cast<S*>(t.c);
  if (!t.first) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      if (i < t.mv) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          if (t.nv - v * W > 0) acc[i][v] = acc[i][v] + load_n(c + i * t.ldc + v * W, t.nv - v * W);
      }
  }
  if (!t.last) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
      if (i < t.mv) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          if (t.nv - v * W > 0) store_n(c + i * t.ldc + v * W, acc[i][v], t.nv - v * W);
      }
    return;
  }
  if constexpr (sizeof(S) == 8) {
    finish_last<Op, double>(acc, t);
  } else {
    switch (t.p->out_dt) {
      case DT::BF16: finish_last<Op, bf16_t>(acc, t); break;
      case DT::F16: finish_last<Op, f16_t>(acc, t); break;
      default: finish_last<Op, float>(acc, t); break;
    }
  }
}

// Pulls this tile's partial sums towards L1 while the K loop runs.
template <int MR, int RowBytes>
inline void prefetch_tile(const Tile& t, int elem) {
  if (t.first) return;
  const char* c = static_cast<const char*>(t.c);
  for (int i = 0; i < MR; ++i)
    for (int o = 0; o < RowBytes; o += 64) __builtin_prefetch(c + (i * t.ldc) * elem + o, 0, 3);
}

// ------------------------------------------------------------ microkernels
// C tile [MR][NV*W] += A panel [kc][MR] . B panel [kc][NV*W]
template <class Op, int MR, int NV, class V>
void micro_fma(int64_t kc, const typename V::Scalar* __restrict A,
               const typename V::Scalar* __restrict B, const Tile& t) {
  constexpr int W = V::W, NR = NV * W;
  prefetch_tile<MR, NR * int(sizeof(typename V::Scalar))>(t, int(sizeof(typename V::Scalar)));
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  for (int64_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = loadu(B + k * NR + v * W);
    if (TA_PF_B > 0) {  // B panels stream from L2: pull rows a few k ahead into L1
      const char* pb = reinterpret_cast<const char*>(B + (k + TA_PF_B) * NR);
#pragma GCC unroll 4
      for (int o = 0; o < NR * int(sizeof(typename V::Scalar)); o += 64) __builtin_prefetch(pb + o, 0, 3);
    }
    if (TA_PF_A > 0) __builtin_prefetch(A + (k + TA_PF_A) * MR, 0, 3);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V a = V::set1(A[k * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(a, b[v], acc[i][v]);
    }
  }
  finish_tile<Op, MR, NV>(acc, t);
}

#ifdef TA_HAS_BF16_DOT
// bf16 pairs: kc2 = number of (k, k+1) pairs
template <class Op, int MR, int NV>
void micro_bf16(int64_t kc2, const bf16_t* __restrict A, const bf16_t* __restrict B,
                const Tile& t) {
  constexpr int W = VecF::W, NR = NV * W;
  prefetch_tile<MR, NR * 4>(t, 4);
  VecF acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = VecF::zero();
  const int32_t* A32 = reinterpret_cast<const int32_t*>(A);
  for (int64_t k = 0; k < kc2; ++k) {
    __m512i b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(B + (k * NR + v * W) * 2);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512i a = _mm512_set1_epi32(A32[k * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = dot_bf16(acc[i][v], a, b[v]);
    }
  }
  finish_tile<Op, MR, NV>(acc, t);
}
#endif

#ifdef TA_HAS_AMX
// The same epilogue as finish_tile, rolled, for a tile spilled to memory
// (AMX accumulators live in tile registers, not vector registers).
template <class Op, int MR, int NV>
void finish_buf(const float* buf, const Tile& t) {
  constexpr int W = VecF::W, NR = NV * W;
  float* c = static_cast<float*>(t.c);
  VecF bias[NV];
  const VecF alpha = VecF(t.p->alpha);
  if (t.last)
    for (int v = 0; v < NV; ++v) bias[v] = bias_vec<VecF>(t.p, t.n + v * W, t.nv - v * W);
  for (int i = 0; i < t.mv; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int nv = t.nv - v * W;
      if (nv <= 0) continue;
      VecF acc = loadu(buf + i * NR + v * W);
      if (!t.first) acc = acc + load_n(c + i * t.ldc + v * W, nv);
      if (!t.last)
        store_n(c + i * t.ldc + v * W, acc, nv);
      else
        epilogue_store<Op>(t.p, t.m + i, t.n + v * W, acc + bias[v], alpha, nv);
    }
  }
}

// A panel rows are padded by 32 bf16 (64 bytes): tile loads with strides
// that are multiples of 1 KiB hit a handful of L1 sets (measured: 4-5x slower).
constexpr int64_t kAmxPad = 32;

struct alignas(64) AmxConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Every tile 16 rows x 64 bytes: C 16x16 fp32, A 16 rows x 32 bf16, B 16
// k-pairs x 16 columns.  (A constant object: GCC 12 drops stores into a local
// config as dead, not seeing that ldtilecfg reads them.)
const AmxConfig kAmxConfig = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};
inline void amx_configure() { _tile_loadconfig(&kAmxConfig); }

// C 32 x 32 (tmm0-3) += A [32][kcp] (tmm4-5) . B pairs [kcp/2][32][2] (tmm6-7)
template <class Op>
void micro_amx(int64_t kcp, const bf16_t* __restrict A, const bf16_t* __restrict B,
               const Tile& t) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t lda = kcp + kAmxPad;
  for (int64_t k = 0; k < kcp; k += 32) {
    _tile_loadd(4, A + k, lda * 2);
    _tile_loadd(6, B + k * 32, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, B + k * 32 + 32, 128);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, A + 16 * lda + k, lda * 2);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float buf[32 * 32];
  _tile_stored(0, buf, 128);
  _tile_stored(1, buf + 16, 128);
  _tile_stored(2, buf + 16 * 32, 128);
  _tile_stored(3, buf + 16 * 32 + 16, 128);
  finish_buf<Op, 32, 2>(buf, t);
}
#endif

// ------------------------------------------------------------- gemm task
template <class Op, class Elem, class Micro>
void gemm_task_t(const GemmProblem* p, const Blocking* bl, const Elem* pa, int64_t m0, int64_t m1,
                 int64_t n0, int64_t n1, Elem* bbuf, void* cbuf, int64_t ldc, Micro micro) {
  const int MR = bl->mr, NR = bl->nr;
  const int64_t K = p->K, kc = bl->kc, Mp = round_up(p->M, MR);
  const int64_t nkb = K == 0 ? 1 : (K + kc - 1) / kc;
  const int64_t esz = p->compute == DT::F64 ? 8 : 4;
  for (int64_t kb = 0; kb < nkb; ++kb) {
    const int64_t k0 = kb * kc;
    const int64_t kcur = imin(kc, K - k0), kcurp = round_up(kcur, bl->kalign);
    const int64_t ksteps = bl->kalign == 2 ? kcurp / 2 : bl->kalign == 32 ? kcurp : kcur;
    pack_b_slice(p, bl, n0, n1, k0, kcur, bbuf);
    const Elem* ablk = pa + kb * (kc + bl->a_pad) * Mp;
    // each A micro-panel (mr x kc) stays in L1 while the nr-column panels of
    // the B slice (L2) stream past it
    for (int64_t m = m0; m < m1; m += MR) {
      const Elem* A = ablk + (m / MR) * (kcurp + bl->a_pad) * MR;
      for (int64_t n = n0; n < n1; n += NR) {
        Tile t;
        t.p = p;
        t.m = m;
        t.n = n;
        t.mv = int(imin(MR, m1 - m));
        t.nv = int(imin(NR, n1 - n));
        t.first = kb == 0;
        t.last = kb == nkb - 1;
        t.c = cbuf ? static_cast<char*>(cbuf) + (m * ldc + n) * esz : nullptr;
        t.ldc = ldc;
        micro(ksteps, A, bbuf + ((n - n0) / NR) * kcurp * NR, t);
      }
    }
  }
}

template <class Op>
void gemm_task_fn(const GemmProblem* p, const Blocking* bl, const void* pa, int64_t m0,
                  int64_t m1, int64_t n0, int64_t n1, void* bbuf, void* cbuf, int64_t ldc) {
  {
    switch (bl->kind) {
      case PackKind::F32:
        gemm_task_t<Op>(p, bl, static_cast<const float*>(pa), m0, m1, n0, n1,
                        static_cast<float*>(bbuf), cbuf, ldc, micro_fma<Op, kMrF32, kNvF32, VecF>);
        break;
      case PackKind::F64:
        gemm_task_t<Op>(p, bl, static_cast<const double*>(pa), m0, m1, n0, n1,
                        static_cast<double*>(bbuf), cbuf, ldc, micro_fma<Op, kMrF64, kNvF64, VecD>);
        break;
      case PackKind::BF16Pair:
#ifdef TA_HAS_BF16_DOT
        gemm_task_t<Op>(p, bl, static_cast<const bf16_t*>(pa), m0, m1, n0, n1,
                        static_cast<bf16_t*>(bbuf), cbuf, ldc, micro_bf16<Op, kMrBf16, kNvBf16>);
#endif
        break;
      case PackKind::AmxBf16:
#ifdef TA_HAS_AMX
        amx_configure();
        gemm_task_t<Op>(p, bl, static_cast<const bf16_t*>(pa), m0, m1, n0, n1,
                        static_cast<bf16_t*>(bbuf), cbuf, ldc, micro_amx<Op>);
        _tile_release();
#endif
        break;
    }
  }
}

void blocking_fn(const GemmProblem* p, int32_t bf16_dot, Blocking* bl) {
  bl->kalign = 1;
  bl->a_pad = 0;
  if (p->compute == DT::F64) {
    bl->kind = PackKind::F64;
    bl->elem = 8;
    bl->mr = kMrF64;
    bl->nr = kNvF64 * VecD::W;
  } else {
    bl->kind = PackKind::F32;
    bl->elem = 4;
    bl->mr = kMrF32;
    bl->nr = kNvF32 * VecF::W;
#ifdef TA_HAS_BF16_DOT
    const bool a_ok = p->a.dt == DT::BF16 || p->a.dt == DT::F32;
    const bool b_ok = p->bt.dt == DT::BF16 || p->bt.dt == DT::F32;
    if (bf16_dot && a_ok && b_ok && (p->a.dt == DT::BF16 || p->bt.dt == DT::BF16)) {
      bl->kind = PackKind::BF16Pair;
      bl->elem = 2;
      bl->mr = kMrBf16;
      bl->nr = kNvBf16 * VecF::W;
      bl->kalign = 2;
    }
#else
    (void)bf16_dot;
#endif
#ifdef TA_HAS_AMX
    if (a_ok && b_ok && (p->a.dt == DT::BF16 || p->bt.dt == DT::BF16)) {
      bl->kind = PackKind::AmxBf16;
      bl->elem = 2;
      bl->mr = 32;
      bl->nr = 32;
      bl->kalign = 32;
      bl->a_pad = int32_t(kAmxPad);
      // One K block up to TA_AMX_KC (the C block stays in tiles for all of it;
      // A micro-panel 32 x kc and the B panels stream from L2), the kc x nc
      // B slice ~ 1/2 of L2.
      const int64_t nkb = (imax(p->K, 1) + TA_AMX_KC - 1) / TA_AMX_KC;
      bl->kc = round_up((imax(p->K, 1) + nkb - 1) / nkb, 32);
      bl->nc = imax(32, (TA_L2_BYTES / 2) / (bl->kc * 2) / 32 * 32);
      bl->mc = round_up(imax(p->M, 1), 32);
      return;
    }
#endif
  }
  // kc: as long as possible (up to 8 KiB / element, balanced blocks), so the
  // C tile stays in registers for all of K and partial sums rarely go through
  // memory; the A micro-panel (mr x kc) and the B panels then stream from L2
  // with software prefetch.  nc: the kc x nc B slice ~ half of L2.
  // (Measured on Sapphire Rapids, 2048^3 fp32, interleaved runs: 84% of FMA
  // peak vs 75-78% with kc sized for L1 (A micro-panel resident in L1), and
  // the transposed BLIS order with the B micro-panel in L1 ~70%.)
  const int64_t kmax = 8192 / bl->elem;
  const int64_t nkb = (imax(p->K, 1) + kmax - 1) / kmax;
  bl->kc = round_up((imax(p->K, 1) + nkb - 1) / nkb, 16);
  bl->nc = imax(bl->nr, (TA_L2_BYTES / 2) / (bl->kc * bl->elem) / bl->nr * bl->nr);
  bl->mc = round_up(imax(p->M, 1), bl->mr);
}

// ------------------------------------------------------------ direct path
// ws: bt transposed to [K][Np] in the compute type, Np = N rounded up to W.
int64_t direct_ws_bytes_fn(const GemmProblem* p) {
  if (p->compute == DT::F64) return p->K * round_up(p->N, VecD::W) * 8;
  return p->K * round_up(p->N, VecF::W) * 4;
}

template <class S, class Src>
void direct_prep_t(const GemmProblem* p, const Src* bt, S* ws) {
  constexpr int W = sizeof(S) == 8 ? VecD::W : VecF::W;
  const int64_t N = p->N, K = p->K, Np = round_up(N, W);
  const int64_t rs = p->bt.rs, cs = p->bt.cs;
  for (int64_t k = 0; k < K; ++k) {
    S* d = ws + k * Np;
    for (int64_t n = 0; n < N; ++n) conv_store(d + n, bt[n * rs + k * cs]);
    for (int64_t n = N; n < Np; ++n) d[n] = S(0);
  }
}

void direct_prep_fn(const GemmProblem* p, void* ws) {
  switch (p->bt.dt) {
    case DT::F32: direct_prep_t(p, static_cast<const float*>(p->bt.p), static_cast<float*>(ws)); break;
    case DT::BF16: direct_prep_t(p, static_cast<const bf16_t*>(p->bt.p), static_cast<float*>(ws)); break;
    case DT::F16: direct_prep_t(p, static_cast<const f16_t*>(p->bt.p), static_cast<float*>(ws)); break;
    case DT::F64: direct_prep_t(p, static_cast<const double*>(p->bt.p), static_cast<double*>(ws)); break;
  }
}

template <class Op, class V, class Src>
void direct_rows_t(const GemmProblem* p, const Src* a, const typename V::Scalar* bt, int64_t m0,
                   int64_t m1) {
  constexpr int W = V::W, R = 4;
  using S = typename V::Scalar;
  const int64_t N = p->N, K = p->K, Np = round_up(N, W);
  const int64_t rs = p->a.rs, cs = p->a.cs;
  const V alpha = V(p->alpha);
  for (int64_t m = m0; m < m1; m += R) {
    const int rv = int(imin(R, m1 - m));
    const Src* ar[R];
    for (int r = 0; r < R; ++r) ar[r] = a + (m + (r < rv ? r : 0)) * rs;
    for (int64_t n = 0; n < N; n += W) {
      const int nv = int(imin(W, N - n));
      V acc[R];
      for (int r = 0; r < R; ++r) acc[r] = V::zero();
      for (int64_t k = 0; k < K; ++k) {
        const V b = loadu(bt + k * Np + n);
        for (int r = 0; r < R; ++r) {
          S av;
          conv_store(&av, ar[r][k * cs]);
          acc[r] = fmadd(V::set1(av), b, acc[r]);
        }
      }
      const V bias = bias_vec<V>(p, n, nv);
      for (int r = 0; r < rv; ++r) epilogue_store<Op>(p, m + r, n, acc[r] + bias, alpha, nv);
    }
  }
}

template <class Op>
void direct_rows_fn(const GemmProblem* p, const void* ws, int64_t m0, int64_t m1) {
  {
    const float* wf = static_cast<const float*>(ws);
    switch (p->a.dt) {
      case DT::F32:
        direct_rows_t<Op, VecF>(p, static_cast<const float*>(p->a.p), wf, m0, m1);
        break;
      case DT::BF16:
        direct_rows_t<Op, VecF>(p, static_cast<const bf16_t*>(p->a.p), wf, m0, m1);
        break;
      case DT::F16:
        direct_rows_t<Op, VecF>(p, static_cast<const f16_t*>(p->a.p), wf, m0, m1);
        break;
      case DT::F64:
        direct_rows_t<Op, VecD>(p, static_cast<const double*>(p->a.p),
                                static_cast<const double*>(ws), m0, m1);
        break;
    }
  }
}

// ------------------------------------------------------- elementwise / rows
template <class Op, class V>
void act_forward_t(const void* x, DT xdt, void* y, DT ydt, int64_t n, double alpha) {
  constexpr int W = V::W;
  const V a = V(alpha);
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const V v0 = load_any<V>(x, xdt, i, W), v1 = load_any<V>(x, xdt, i + W, W);
    store_any(y, ydt, i, Op::forward(v0, a), W);
    store_any(y, ydt, i + W, Op::forward(v1, a), W);
  }
  for (; i < n; i += W) {
    const int nv = int(imin(W, n - i));
    store_any(y, ydt, i, Op::forward(load_any<V>(x, xdt, i, nv), a), nv);
  }
}

template <class Op>
void act_forward_fn(const void* x, DT xdt, void* y, DT ydt, int64_t n, double alpha) {
  if (xdt == DT::F64)
    act_forward_t<Op, VecD>(x, xdt, y, ydt, n, alpha);
  else
    act_forward_t<Op, VecF>(x, xdt, y, ydt, n, alpha);
}

template <class V>
void softmax_rows_t(const void* z, DT zdt, int64_t ldz, void* y, DT ydt, int64_t ldy,
                    int64_t rows, int64_t n, bool log) {
  constexpr int W = V::W;
  using S = typename V::Scalar;
  const S ninf = -__builtin_inf();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t zo = r * ldz, yo = r * ldy;
    // max
    V mx = V::set1(ninf);
    for (int64_t j = 0; j < n; j += W) {
      const int nv = int(imin(W, n - j));
      const V v = load_any<V>(z, zdt, zo + j, nv);
      // (a NaN lost here still reaches every output through the sum below)
      mx = vmax(mx, where(V::first_n(nv), v, V::set1(ninf)));
    }
    const S m = hmax(mx);
    const V vm = V::set1(m);
    // sum of exp
    V sum = V::zero();
    for (int64_t j = 0; j < n; j += W) {
      const int nv = int(imin(W, n - j));
      const V e = exp_v(load_any<V>(z, zdt, zo + j, nv) - vm);
      sum = sum + where(V::first_n(nv), e, V::zero());
    }
    const S s = hsum(sum);
    if (log) {
      const V sub = V::set1(m + S(::log(double(s))));
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        store_any(y, ydt, yo + j, load_any<V>(z, zdt, zo + j, nv) - sub, nv);
      }
    } else {
      const V inv = V::set1(S(1) / s);
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        store_any(y, ydt, yo + j, exp_v(load_any<V>(z, zdt, zo + j, nv) - vm) * inv, nv);
      }
    }
  }
}

void softmax_rows_fn(const void* z, DT zdt, int64_t ldz, void* y, DT ydt, int64_t ldy,
                     int64_t rows, int64_t n, int32_t log) {
  if (zdt == DT::F64)
    softmax_rows_t<VecD>(z, zdt, ldz, y, ydt, ldy, rows, n, log != 0);
  else
    softmax_rows_t<VecF>(z, zdt, ldz, y, ydt, ldy, rows, n, log != 0);
}

// g row loader: any column stride, any dtype (converted to V)
template <class V>
inline V load_g(const MatRef& g, int64_t m, int64_t j, int nv) {
  const int64_t base = m * g.rs + j * g.cs;
  if (g.cs == 1) return load_any<V>(g.p, g.dt, base, nv);
  if constexpr (sizeof(typename V::Scalar) == 8) {
    return load_strided<V>(static_cast<const double*>(g.p) + base, g.cs, nv);
  } else {
    switch (g.dt) {
      case DT::BF16: return load_strided<V>(static_cast<const bf16_t*>(g.p) + base, g.cs, nv);
      case DT::F16: return load_strided<V>(static_cast<const f16_t*>(g.p) + base, g.cs, nv);
      default: return load_strided<V>(static_cast<const float*>(g.p) + base, g.cs, nv);
    }
  }
}

template <class Op, class V>
void dz_rows_t(const MatRef* g, const void* s, DT sdt, int64_t lds, int64_t m0, int64_t m1,
               int64_t n, double alpha, void* dz, DT dzdt, int64_t ldz, void* dbpart) {
  constexpr int W = V::W;
  using S = typename V::Scalar;
  S* db = static_cast<S*>(dbpart);
  const V a = V(alpha);
  for (int64_t m = m0; m < m1; ++m) {
    if constexpr (Op::kRowwise != Rowwise::None) {
      const bool log = Op::kRowwise == Rowwise::LogSoftmax;
      V acc = V::zero();
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        const V gv = load_g<V>(*g, m, j, nv);
        acc = log ? acc + gv : fmadd(gv, load_any<V>(s, sdt, m * lds + j, nv), acc);
      }
      const V dot = V::set1(hsum(acc));
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        const V gv = load_g<V>(*g, m, j, nv);
        const V yv = load_any<V>(s, sdt, m * lds + j, nv);
        const V d = log ? gv - exp_v(yv) * dot : yv * (gv - dot);
        if (dz) store_any(dz, dzdt, m * ldz + j, d, nv);
        if (db) store_n(db + j, load_n(db + j, nv) + d, nv);
      }
    } else {
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        const V gv = load_g<V>(*g, m, j, nv);
        const V sv = s ? load_any<V>(s, sdt, m * lds + j, nv) : V::zero();
        const V d = Op::backward(gv, sv, a);
        if (dz) store_any(dz, dzdt, m * ldz + j, d, nv);
        if (db) store_n(db + j, load_n(db + j, nv) + d, nv);
      }
    }
  }
}

template <class Op>
void dz_rows_fn(const MatRef* g, const void* s, DT sdt, int64_t lds, int64_t m0, int64_t m1,
                int64_t n, double alpha, void* dz, DT dzdt, int64_t ldz, void* dbpart) {
  if (g->dt == DT::F64)
    dz_rows_t<Op, VecD>(g, s, sdt, lds, m0, m1, n, alpha, dz, dzdt, ldz, dbpart);
  else
    dz_rows_t<Op, VecF>(g, s, sdt, lds, m0, m1, n, alpha, dz, dzdt, ldz, dbpart);
}

// ---------------------------------------------------- small-layer backward
inline int64_t dt_bytes(DT d) { return d == DT::F64 ? 8 : d == DT::F32 ? 4 : 2; }

// Narrow layers (the document's 2-10-5-1 Net): one pass over rows [m0, m1)
// computes, per row, dz = g * act'(s) (a stack row), db += dz, the dx row
// dz . w and dw += dz^T x_row.  dw/db accumulate into this row block's
// partial sums (N x Kp + N, L1-resident), reduced in block order by the driver.
template <class Op, class V, class Src>
void small_bwd_t(const SmallBwdProblem* p, const Src* x, int64_t m0, int64_t m1,
                 typename V::Scalar* dwp, typename V::Scalar* dbp) {
  constexpr int W = V::W;
  using S = typename V::Scalar;
  const int64_t N = p->N, K = p->K, Kp = p->Kp, Kv = round_up(K, W);
  const int64_t rs = p->x.rs, cs = p->x.cs;
  const S* wp = static_cast<const S*>(p->wp);
  const DT cdt = sizeof(S) == 8 ? DT::F64 : DT::F32;
  alignas(64) S xb[kSmallBwdRows * kSmallBwdMaxKp];  // the run's x rows, compute type
  // dz for up to kSmallBwdRows rows at a time.  Contiguous g and s rows of an
  // elementwise activation are one flat run of rows*N values: full vectors
  // instead of one masked vector per (short) row.
  alignas(64) S dzb[kSmallBwdRows * kSmallBwdMaxN];
  const bool flat = Op::kRowwise == Rowwise::None && p->g.cs == 1 && p->g.rs == N && (!p->s || p->lds == N);
  for (int64_t r0 = m0; r0 < m1; r0 += kSmallBwdRows) {
    const int64_t r1 = imin(m1, r0 + kSmallBwdRows), nr = r1 - r0;
    // this run's rows of g and s; flat: as one row of nr * N values
    const MatRef g1{static_cast<const char*>(p->g.p) + r0 * p->g.rs * dt_bytes(p->g.dt), p->g.dt,
                    flat ? 0 : p->g.rs, p->g.cs};
    const void* s1 = p->s ? static_cast<const char*>(p->s) + r0 * p->lds * dt_bytes(p->sdt) : nullptr;
    if (flat)
      dz_rows_t<Op, V>(&g1, s1, p->sdt, 0, 0, 1, nr * N, p->alpha, dzb, cdt, 0, nullptr);
    else
      dz_rows_t<Op, V>(&g1, s1, p->sdt, p->lds, 0, nr, N, p->alpha, dzb, cdt, N, nullptr);
    // db and dw: accumulate over this run's rows in registers, one read-modify-
    // write of the partial sums per run (a per-row update would chain every row
    // through memory, and masked stores do not forward to the next load).
    if (dbp) {
      for (int64_t j = 0; j < N; j += W) {
        const int nv = int(imin(W, N - j));
        V acc = load_n(dbp + j, nv);
        for (int64_t r = 0; r < nr; ++r) acc = acc + load_n(dzb + r * N + j, nv);
        store_n(dbp + j, acc, nv);
      }
    }
    if (dwp) {
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t m = r0 + r;
        S* xr = xb + r * kSmallBwdMaxKp;
        for (int64_t k = 0; k < K; ++k) conv_store(xr + k, x[m * rs + k * cs]);
        for (int64_t k = K; k < Kv; ++k) xr[k] = S(0);
      }
      for (int64_t n = 0; n < N; ++n) {
        S* row = dwp + n * Kp;
        for (int64_t kb = 0; kb < Kv; kb += W) {
          V acc = loadu(row + kb);
          for (int64_t r = 0; r < nr; ++r)
            acc = fmadd(V::set1(dzb[r * N + n]), loadu(xb + r * kSmallBwdMaxKp + kb), acc);
          storeu(row + kb, acc);
        }
      }
    }
    if (p->dx) {
      for (int64_t r = 0; r < nr; ++r) {
        const S* dz = dzb + r * N;
        for (int64_t kb = 0; kb < Kv; kb += W) {
          V acc = V::zero();
          for (int64_t n = 0; n < N; ++n) acc = fmadd(V::set1(dz[n]), loadu(wp + n * Kp + kb), acc);
          store_any(p->dx, p->dxdt, (r0 + r) * p->lddx + kb, acc, int(imin(W, K - kb)));
        }
      }
    }
  }
}

template <class Op>
void small_bwd_rows_fn(const SmallBwdProblem* p, int64_t m0, int64_t m1, void* dwpart,
                       void* dbpart) {
  {
    if (p->compute == DT::F64) {
      small_bwd_t<Op, VecD>(p, static_cast<const double*>(p->x.p), m0, m1,
                            static_cast<double*>(dwpart), static_cast<double*>(dbpart));
      return;
    }
    float* dw = static_cast<float*>(dwpart);
    float* db = static_cast<float*>(dbpart);
    switch (p->x.dt) {
      case DT::BF16: small_bwd_t<Op, VecF>(p, static_cast<const bf16_t*>(p->x.p), m0, m1, dw, db); break;
      case DT::F16: small_bwd_t<Op, VecF>(p, static_cast<const f16_t*>(p->x.p), m0, m1, dw, db); break;
      default: small_bwd_t<Op, VecF>(p, static_cast<const float*>(p->x.p), m0, m1, dw, db); break;
    }
  }
}

// ----------------------------------------------------- microkernel benchmark
// mode 0: the fp32 FMA microkernel alone, reps passes over one kc x MR A panel
// and one kc x NR B panel (cache-resident: no packing, no memory traffic), C
// tile stored once per pass.  mode 1: a pure FMA loop with MR x NV
// independent accumulators and no loads: the core's FMA throughput.  Returns
// the floating-point operations done; the driver times the call.
double micro_bench_fn(int64_t kc, int64_t reps, int32_t mode) {
  constexpr int MR = kMrF32, NV = kNvF32, W = VecF::W, NR = NV * W;
  if (mode == 1) {
    VecF acc[MR][NV];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = VecF::set1(float(i + v));
    const VecF a = VecF::set1(0.999999f), b = VecF::set1(1e-7f);
    for (int64_t r = 0; r < reps * kc; ++r) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(acc[i][v], a, b);
    }
    VecF sum = VecF::zero();
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) sum = sum + acc[i][v];
    volatile float sink = hsum(sum);
    (void)sink;
    return 2.0 * MR * NR * double(kc) * double(reps);
  }
  float* buf = nullptr;
  const int64_t n = kc * MR + kc * NR + MR * NR;
  if (posix_memalign(reinterpret_cast<void**>(&buf), 64, size_t(n) * 4) != 0) return 0.0;
  for (int64_t i = 0; i < n; ++i) buf[i] = float(i % 7) * 0.125f;
  const float* A = buf;
  const float* B = buf + kc * MR;
  GemmProblem p{};
  p.M = MR;
  p.N = NR;
  p.K = kc;
  p.out = buf + kc * MR + kc * NR;
  p.out_dt = DT::F32;
  p.ldo = NR;
  p.bias_dt = DT::F32;
  p.pre_dt = DT::F32;
  p.compute = DT::F32;
  const Tile t{&p, 0, 0, MR, NR, true, true, nullptr, 0};
  for (int64_t r = 0; r < reps; ++r) micro_fma<acts::Identity, MR, NV, VecF>(kc, A, B, t);
  free(buf);
  return 2.0 * MR * NR * double(kc) * double(reps);
}

// ------------------------------------------------- per-activation kernels
// Row activations run the identity's GEMM / forward (the driver normalises
// the rows); their backward kernels are their own.
template <class Op>
using FwdOp = std::conditional_t<Op::kRowwise == Rowwise::None, Op, acts::Identity>;

// The activation-dependent kernels of this ISA path for functor Op.
template <class Op>
constexpr ActKernels kActKernels = {
    gemm_task_fn<FwdOp<Op>>, direct_rows_fn<FwdOp<Op>>, act_forward_fn<FwdOp<Op>>,
    dz_rows_fn<Op>,          small_bwd_rows_fn<Op>,
};

}  // namespace
}  // namespace TA_ISA
}  // namespace cpu
}  // namespace torch_act
