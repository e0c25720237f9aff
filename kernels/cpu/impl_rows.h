// torch_act — CPU kernels, part of kernels_impl.h: elementwise activation, softmax rows, the backward pass through the activation (dz + bias partial sums) and through linear_glu's gate.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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
      // (z - max) - log(sum), as torch: z - (max + log(sum)) would lose the
      // low bits of log(sum) to a large max (a row of 1e7s, or of -1e30s)
      const V ls = V::set1(S(::log(double(s))));
      for (int64_t j = 0; j < n; j += W) {
        const int nv = int(imin(W, n - j));
        store_any(y, ydt, yo + j, (load_any<V>(z, zdt, zo + j, nv) - vm) - ls, nv);
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

// linear_glu's backward through the gate, one pass over g and [z_gate | z_up]:
// h = act(z_gate) on the vectors, d_up = g * h, d_gate = backward(g * z_up, s)
// with s = h when the functor's backward reads its output, else z_gate.  The
// composition it replaces made five passes (a copy of z_gate, act, two
// products, the backward) and rounded h and g * z_up to bf16 / fp16 between
// them.  Memory-bound: three rows read, two written.
template <class Op, class V, bool UsesOutput>
void glu_dz_rows_t(const MatRef* g, const void* z, DT zdt, int64_t ldz, int64_t m0, int64_t m1,
                   int64_t n, double alpha, void* d_gate, void* d_up, DT ddt, int64_t ldd) {
  constexpr int W = V::W;
  const V a = V(alpha);
  for (int64_t m = m0; m < m1; ++m) {
    const int64_t zo = m * ldz, dofs = m * ldd;
    for (int64_t j = 0; j < n; j += W) {
      const int nv = int(imin(W, n - j));
      const V gv = load_g<V>(*g, m, j, nv);
      const V zg = load_any<V>(z, zdt, zo + j, nv);
      const V zu = load_any<V>(z, zdt, zo + n + j, nv);
      const V h = Op::forward(zg, a);
      store_any(d_up, ddt, dofs + j, gv * h, nv);
      store_any(d_gate, ddt, dofs + j, Op::backward(gv * zu, UsesOutput ? h : zg, a), nv);
    }
  }
}

template <class Op>
void glu_dz_rows_fn(const MatRef* g, const void* z, DT zdt, int64_t ldz, int64_t m0, int64_t m1,
                    int64_t n, double alpha, void* d_gate, void* d_up, DT ddt, int64_t ldd) {
  const bool out = saves_output(Op::kSaves, alpha);
  if (g->dt == DT::F64) {
    if (out)
      glu_dz_rows_t<Op, VecD, true>(g, z, zdt, ldz, m0, m1, n, alpha, d_gate, d_up, ddt, ldd);
    else
      glu_dz_rows_t<Op, VecD, false>(g, z, zdt, ldz, m0, m1, n, alpha, d_gate, d_up, ddt, ldd);
  } else {
    if (out)
      glu_dz_rows_t<Op, VecF, true>(g, z, zdt, ldz, m0, m1, n, alpha, d_gate, d_up, ddt, ldd);
    else
      glu_dz_rows_t<Op, VecF, false>(g, z, zdt, ldz, m0, m1, n, alpha, d_gate, d_up, ddt, ldd);
  }
}

template <class Op>
constexpr auto glu_dz_rows_of() {
  if constexpr (Op::kRowwise == Rowwise::None)
    return &glu_dz_rows_fn<Op>;
  else
    return decltype(&glu_dz_rows_fn<Op>)(nullptr);
}

// Higher derivatives D_2 / D_3 (activations.h) elementwise over n contiguous
// entries: one load of g and s, the functor on SIMD vectors, one store.
// Memory bound like dz_rows.
template <class Op, class V, int Order>
void deriv_t(const void* g, const void* s, DT dt, int64_t n, double alpha, void* out) {
  constexpr int W = V::W;
  const V a = V(alpha);
  for (int64_t j = 0; j < n; j += W) {
    const int nv = int(imin(W, n - j));
    const V gv = load_any<V>(g, dt, j, nv);
    const V sv = load_any<V>(s, dt, j, nv);
    V d;
    if constexpr (Order == 2)
      d = Op::backward2(gv, sv, a);
    else
      d = Op::backward3(gv, sv, a);
    store_any(out, dt, j, d, nv);
  }
}

template <class Op>
void deriv_fn(int32_t order, const void* g, const void* s, DT dt, int64_t n, double alpha,
              void* out) {
  if constexpr (HasBackward2<Op>::value) {
    if (order == 2) {
      if (dt == DT::F64)
        deriv_t<Op, VecD, 2>(g, s, dt, n, alpha, out);
      else
        deriv_t<Op, VecF, 2>(g, s, dt, n, alpha, out);
    }
  }
  if constexpr (HasBackward3<Op>::value) {
    if (order == 3) {
      if (dt == DT::F64)
        deriv_t<Op, VecD, 3>(g, s, dt, n, alpha, out);
      else
        deriv_t<Op, VecF, 3>(g, s, dt, n, alpha, out);
    }
  }
}

template <class Op>
constexpr auto deriv_of() {
  if constexpr (Op::kRowwise == Rowwise::None)
    return &deriv_fn<Op>;
  else
    return decltype(&deriv_fn<Op>)(nullptr);
}

// ------------------------------------------------------ save="mask" bits
// One bit per element (8 to a byte, row r at bits + r * ldb, bit j of a row
// in byte j / 8, bit j % 8): the derivative backward(1, s) evaluated as
// vectors, compared with the off slope, and the comparison's lane mask taken
// as an integer (AVX-512: the k-register itself; AVX2: movemask).  The bits of
// 64 elements are gathered in one word and stored at once.  Bandwidth-bound:
// one read of s, n / 8 bytes written per row.
TA_INLINE unsigned low_bits(int n) { return n >= 32 ? ~0u : (1u << n) - 1u; }

template <class Op, class V>
void mask_rows_t(const void* s, DT sdt, int64_t lds, int64_t rows, int64_t n, double alpha,
                 double off, uint8_t* bits, int64_t ldb) {
  constexpr int W = V::W;
  static_assert(64 % W == 0, "whole vectors per 64-bit word");
  const V a = V(alpha), one = V(1.0), o = V(off);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* b = bits + r * ldb;
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      const int64_t j1 = imin(n, j0 + 64);
      uint64_t word = 0;
      for (int64_t j = j0; j < j1; j += W) {
        const int nv = int(imin(W, j1 - j));
        const V d = Op::backward(one, load_any<V>(s, sdt, r * lds + j, nv), a);
        word |= uint64_t(bits_of(d != o) & low_bits(nv)) << (j - j0);
      }
      const int nbytes = int((j1 - j0 + 7) >> 3);
      if (nbytes == 8)
        __builtin_memcpy(b + (j0 >> 3), &word, 8);
      else
        for (int q = 0; q < nbytes; ++q) b[(j0 >> 3) + q] = uint8_t(word >> (8 * q));
    }
  }
}

template <class Op>
void mask_rows_fn(const void* s, DT sdt, int64_t lds, int64_t rows, int64_t n, double alpha,
                  double off, uint8_t* bits, int64_t ldb) {
  if (sdt == DT::F64)
    mask_rows_t<Op, VecD>(s, sdt, lds, rows, n, alpha, off, bits, ldb);
  else
    mask_rows_t<Op, VecF>(s, sdt, lds, rows, n, alpha, off, bits, ldb);
}

// The backward under save="mask": out = g * slope(bit) for `rows` rows of n
// (g, out contiguous, dtype dt; bits as mask_rows writes them): the bits of a
// vector become its lane mask, then a select (on = 1, off = 0: g or +0, no
// arithmetic), a product and a select (off = 0), or a product with the
// selected slope -- the arithmetic the functor's own backward does for a
// two-valued derivative, so the result is the same bits.  Bandwidth-bound.
TA_INLINE unsigned load_bits(const uint8_t* row, int64_t j, int nv) {
  const uint8_t* p = row + (j >> 3);
  const int sh = int(j & 7);
  unsigned v = p[0];
  if (sh + nv > 8) v |= unsigned(p[1]) << 8;  // never past the row's last byte
  return (v >> sh) & low_bits(nv);
}

template <class V, int Mode>  // Mode 0: slopes 1 / 0; 1: on / 0; 2: on / off
void mask_grad_rows_t(const void* g, DT dt, const uint8_t* bits, int64_t ldb, int64_t rows,
                      int64_t n, double on, double off, void* out) {
  using M = typename V::Mask;
  constexpr int W = V::W;
  const V von(on), voff(off), zero = V::zero();
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* b = bits + r * ldb;
    for (int64_t j = 0; j < n; j += W) {
      const int nv = int(imin(W, n - j));
      const M m = mask_of_bits<M>(load_bits(b, j, nv));
      const V x = load_any<V>(g, dt, r * n + j, nv);
      V y;
      if constexpr (Mode == 0)
        y = where(m, x, zero);
      else if constexpr (Mode == 1)
        y = where(m, x * von, zero);
      else
        y = x * where(m, von, voff);
      store_any(out, dt, r * n + j, y, nv);
    }
  }
}

template <class V>
void mask_grad_rows_v(const void* g, DT dt, const uint8_t* bits, int64_t ldb, int64_t rows,
                      int64_t n, double on, double off, void* out) {
  if (on == 1.0 && off == 0.0)
    mask_grad_rows_t<V, 0>(g, dt, bits, ldb, rows, n, on, off, out);
  else if (off == 0.0)
    mask_grad_rows_t<V, 1>(g, dt, bits, ldb, rows, n, on, off, out);
  else
    mask_grad_rows_t<V, 2>(g, dt, bits, ldb, rows, n, on, off, out);
}

inline void mask_grad_rows_fn(const void* g, DT dt, const uint8_t* bits, int64_t ldb, int64_t rows,
                       int64_t n, double on, double off, void* out) {
  if (dt == DT::F64)
    mask_grad_rows_v<VecD>(g, dt, bits, ldb, rows, n, on, off, out);
  else
    mask_grad_rows_v<VecF>(g, dt, bits, ldb, rows, n, on, off, out);
}
