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

// Gated linear units (linear_glu): gemm_task instantiated with Glu<Op> runs
// over a B of interleaved panels (the driver's layout, kernels/cpu/glu.cpp):
// in each nr-column panel P the first nr/2 columns are gate rows
// P*nr/2 + j, the last nr/2 the up rows P*nr/2 + j (rows >= N are zeros), so
// both products of an output column meet in one register tile.  The epilogue
// adds the (interleaved) bias, optionally stores z_gate / z_up to
// pre[m*ldp + c] / pre[m*ldp + ldp/2 + c], and writes act(z_gate) * z_up to
// out column c = P*nr/2 + j (out is [M, N] with ldo = N, the real width).
template <class Op>
struct Glu {
  using Inner = Op;
};
template <class T>
struct IsGlu : std::false_type {};
template <class Op>
struct IsGlu<Glu<Op>> : std::true_type {};

template <class Op, class OutT, int MR, int NV, class V>
TA_INLINE void finish_last_glu(V (&acc)[MR][NV], const Tile& t) {
  static_assert(NV % 2 == 0, "GLU needs an even number of vectors in the register tile");
  constexpr int W = V::W, H = NV / 2;
  const GemmProblem* p = t.p;
  const int64_t col = t.n / (NV * W) * (H * W);
  const int nvalid = int(imin(H * W, p->ldo - col));
  V bias[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) bias[v] = bias_vec<V>(p, t.n + v * W, t.nv - v * W);
  const V alpha = V(p->alpha);
  OutT* out = static_cast<OutT*>(p->out) + t.m * p->ldo + col;
  const int64_t up = p->ldp / 2;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i < t.mv) {
#pragma GCC unroll 4
      for (int v = 0; v < H; ++v) {
        const int nv = nvalid - v * W;
        if (nv > 0) {
          const V zg = acc[i][v] + bias[v], zu = acc[i][v + H] + bias[v + H];
          if (p->pre) {
            const int64_t o = (t.m + i) * p->ldp + col + v * W;
            store_any(p->pre, p->pre_dt, o, zg, nv);
            store_any(p->pre, p->pre_dt, o + up, zu, nv);
          }
          store_n(out + i * p->ldo + v * W, Op::forward(zg, alpha) * zu, nv);
        }
      }
    }
  }
}

// The last K block's epilogue on the register tile, for one output type
// (resolved once per tile: no calls or dtype switches between the
// accumulators, which would spill all of them).
template <class Op, class OutT, int MR, int NV, class V>
TA_INLINE void finish_last_act(V (&acc)[MR][NV], const Tile& t) {
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

template <class Op, class OutT, int MR, int NV, class V>
TA_INLINE void finish_last(V (&acc)[MR][NV], const Tile& t) {
  if constexpr (IsGlu<Op>::value)
    finish_last_glu<typename Op::Inner, OutT>(acc, t);
  else
    finish_last_act<Op, OutT>(acc, t);
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
