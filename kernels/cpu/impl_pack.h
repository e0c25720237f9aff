// torch_act — CPU kernels, part of kernels_impl.h: packing: A panels once per call, B slices per task, any strides and dtypes.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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

// Row-contiguous source (rs == 1) into np R-row panels [Kp][R] (panel i holds
// rows r0 + i*R .. of src, pstride elements apart; rows past nrows and k past
// kcur are zeros): vector copies, k in chunks of KB rows -- for each panel the
// chunk's KB x R block (KB * R contiguous destination elements, whole cache
// lines), then the next panel.  One k at a time across all panels instead
// stored R elements to each of np panels pstride apart, a multiple of 4 KiB
// whenever kcurp is a multiple of 256 (fp32, R = 12 or 32): np store streams
// in ONE L1 set, evicted before the next k filled their lines.  The KB source
// rows (cs apart) are read as KB streams; the next chunk's rows are
// prefetched panel by panel.  KB = 16 (`perf` share of the packer for dW
// only at 512x768->3072, fp32, Sapphire Rapids: KB 1 (the old order) 11.7%,
// 4: 9.2%, 8: 8.0%, 16: 6.9-7.1%, 32: 7.6%, 64: 7.8%).
constexpr int64_t kPackKB = 16;

template <class V, class Dst, class Src>
void pack_rows_many(const Src* src, int64_t cs, int64_t nrows, int64_t r0, int64_t np, int R,
                    int64_t kcur, int64_t kcurp, Dst* dst, int64_t pstride) {
  constexpr int W = V::W;
  constexpr int64_t KB = kPackKB;
  for (int64_t kb = 0; kb < kcurp; kb += KB) {
    const int64_t ke = imin(kcurp, kb + KB);
    for (int64_t i = 0; i < np; ++i) {
      const int64_t rb = r0 + i * R;
      Dst* d = dst + i * pstride;
      for (int64_t k = kb; k < ke; ++k) {
        const Src* sk = src + k * cs;
        if (k + KB < kcur)
          for (int o = 0; o < R; o += 64 / int(sizeof(Src))) __builtin_prefetch(sk + KB * cs + rb + o, 0, 3);
        for (int q = 0; q < R; q += W) {
          const int nr = int(imin(W, R - q));
          const int nrv = int(imax(0, imin(nr, nrows - rb - q)));
          store_n(d + k * R + q, (k < kcur && nrv > 0) ? load_n(sk + rb + q, nrv) : V::zero(), nr);
        }
      }
    }
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

// Row-contiguous source (rs == 1) into np pair panels [Kp/2][R][2] (panel i
// holds rows r0 + i*R .. of src, pstride elements apart): the (k, k+1) rows'
// runs zipped into 32-bit (k, k+1) lanes, a chunk of kPackKB rows at a time
// across all the panels as pack_rows_many does for fp32 and why.
template <class Src>
void pack_pairs_many(const Src* src, int64_t cs, int64_t nrows, int64_t r0, int64_t np, int R,
                     int64_t kcur, int64_t kcurp, bf16_t* dst, int64_t pstride) {
  constexpr int64_t KB = kPackKB;
  const __m256i z = _mm256_setzero_si256();
  for (int64_t kb = 0; kb < kcurp; kb += KB) {
    const int64_t ke = imin(kcurp, kb + KB);
    for (int64_t i = 0; i < np; ++i) {
      const int64_t rb = r0 + i * R;
      for (int64_t k = kb; k < ke; k += 2) {
        const Src* s0 = src + k * cs;
        const Src* s1 = s0 + cs;
        const bool has0 = k < kcur, has1 = k + 1 < kcur;
        for (int o = 0; o < R; o += 64 / int(sizeof(Src))) {  // the next chunk's rows
          if (k + KB < kcur) __builtin_prefetch(s0 + KB * cs + rb + o, 0, 3);
          if (k + 1 + KB < kcur) __builtin_prefetch(s1 + KB * cs + rb + o, 0, 3);
        }
        float* d = reinterpret_cast<float*>(dst + i * pstride + k * R);
        for (int q = 0; q < R; q += 16) {
          const int nr = int(imin(16, R - q));
          const int nrv = int(imax(0, imin(nr, nrows - rb - q)));
          const __m256i lo = (has0 && nrv > 0) ? bf16_bits(s0 + rb + q, nrv) : z;
          const __m256i hi = (has1 && nrv > 0) ? bf16_bits(s1 + rb + q, nrv) : z;
          const __m512i v = _mm512_or_si512(_mm512_cvtepu16_epi32(lo),
                                            _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
          store_n(d + q, VecF(_mm512_castsi512_ps(v)), nr);
        }
      }
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
      if (rs == 1 && cs != 1) return pack_pairs_many(src, cs, rows, 0, 1, R, K, Kp, dst, 0);
    }
#endif
    return pack_panel_scalar<true>(src, rs, cs, rows, R, K, Kp, dst);
  } else {
    if (rows > 0 && cs == 1 && rs != 1) return pack_panel_transpose<V>(src, rs, rows, R, K, Kp, dst);
    if (rows > 0 && rs == 1) return pack_rows_many<V>(src, cs, rows, 0, 1, R, K, Kp, dst, 0);
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
// elements).  Row-contiguous sources (rs == 1) are read a chunk of k rows at
// a time across all the panels, so each k row is one contiguous run of the
// source (a panel-at-a-time walk down all of K strides by cs per element and
// defeats the prefetchers).
template <class Dst>
void pack_many(const MatRef& m, int64_t nrows, int64_t r0, int64_t np, int R, int64_t k0,
               int64_t kcur, int64_t kcurp, Dst* dst, int64_t pstride) {
  using V = typename std::conditional_t<sizeof(Dst) == 8, VecD, VecF>;
  if (m.rs == 1 && m.cs != 1) {
    const auto run = [&](auto* src) {  // false: no walker for this dtype pair
      using Src = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
      src += k0 * m.cs;
      if constexpr (sizeof(Dst) == 2) {
#ifdef TA_HAS_BF16_DOT
        if constexpr (std::is_same_v<Src, bf16_t> || std::is_same_v<Src, float>) {
          pack_pairs_many(src, m.cs, nrows, r0, np, R, kcur, kcurp, dst, pstride);
          return true;
        }
#endif
        return false;
      } else if constexpr ((sizeof(Dst) == 8) == (sizeof(Src) == 8)) {
        pack_rows_many<V>(src, m.cs, nrows, r0, np, R, kcur, kcurp, dst, pstride);
        return true;
      } else {
        return false;
      }
    };
    bool done = false;
    switch (m.dt) {
      case DT::F32: done = run(static_cast<const float*>(m.p)); break;
      case DT::F64: done = run(static_cast<const double*>(m.p)); break;
      case DT::BF16: done = run(static_cast<const bf16_t*>(m.p)); break;
      case DT::F16: done = run(static_cast<const f16_t*>(m.p)); break;
    }
    if (done) return;
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
