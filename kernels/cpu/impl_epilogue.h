// torch_act — CPU kernels, part of kernels_impl.h: the GEMM epilogue: bias, optional pre-activation store, the activation functor on the register tile, store.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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
