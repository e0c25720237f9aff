// torch_act — CPU kernels, part of kernels_impl.h: the direct path for small shapes (no A packing).
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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
