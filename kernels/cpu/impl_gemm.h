// torch_act — CPU kernels, part of kernels_impl.h: one mc x nc block of C (gemm_task) and the blocking (register tile, kc, mc, nc) per ISA.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
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

void blocking_fn(const GemmProblem* p, int32_t bf16_dot, int64_t l2_bytes, Blocking* bl) {
  const int64_t l2 = l2_bytes > 0 ? l2_bytes : TA_L2_BYTES;
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
      bl->nc = imax(32, (l2 / 2) / (bl->kc * 2) / 32 * 32);
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
  bl->nc = imax(bl->nr, (l2 / 2) / (bl->kc * bl->elem) / bl->nr * bl->nr);
  bl->mc = round_up(imax(p->M, 1), bl->mr);
}
