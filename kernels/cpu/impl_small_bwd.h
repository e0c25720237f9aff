// torch_act — CPU kernels, part of kernels_impl.h: the one-pass backward of narrow layers (dz, dx, dw / db block partials).
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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
