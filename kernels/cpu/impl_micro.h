// torch_act — CPU kernels, part of kernels_impl.h: register-blocked microkernels: FMA (fp32 / fp64), AVX512-BF16 pairs, AMX tiles.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
// ------------------------------------------------------------ microkernels
// C tile [MR][NV*W] += A panel [kc][MR] . B panel [kc][NV*W]
//
// The register tile (kMrF32 x kNvF32 vectors, simd_*.h), derived rather than tuned:
//  * latency: an FMA's result is ready after L = 4 cycles (Zen 3/4/5, Golden Cove)
//    and P = 2 FMA pipes issue per cycle, so >= L x P = 8 independent
//    accumulator chains keep both pipes busy;
//  * registers: MR*NV accumulators + NV B vectors + 1 broadcast A value must fit
//    the register file, or accumulators spill (see below);
//  * loads: per k step NV B loads and MR broadcasts feed MR*NV FMAs; with 2 FMAs
//    and 2-3 loads per cycle the loop stays FMA-bound while MR*NV >= MR + NV.
//  AVX2 (16 ymm):    6 x 2  -> 12 chains (>= 8), 12 + 2 + 1 = 15 registers, 12 FMAs per 8 loads.
//  AVX-512 (32 zmm): 12 x 2 -> 24 chains, 24 + 2 + 1 = 27 registers, 24 FMAs per 14 loads
//                    (the bf16 pair kernel, micro_bf16, uses the same 12 x 2 tile).
//  portable (compiler vectors): 4 x 2, whatever the target's registers allow.
// Measured (torch_act._C.cpu_micro_peak, one thread, kc = 256, 2026-12-02 on a
// Zen 5 core): AVX2 114-120 GFLOP/s = 91-96% of the 126 GFLOP/s FMA-loop peak,
// AVX-512 235-240 = 95% of 248-252.  K, M and N blocking: impl_gemm.h.
//
// The k loop is its own (not inlined) function, one per tile shape, and hands
// its accumulators back through memory once per tile.  Inlined into
// micro_fma, it shared a function with the activation epilogue, and GCC's
// register allocator, seeing the epilogue's pressure, kept 4 of the AVX2
// kernel's 12 accumulators on the stack *inside* the loop (vfmadd213ps
// -0xb0(%rbp) + store per k): a load-FMA-store chain per k that ran the AVX2
// fp32 microkernel at 45% of the FMA peak on a Zen 5 core.  Alone, the loop
// keeps every accumulator in a register (12 + 2 B vectors + 1 broadcast of
// the 16 ymm; 24 + 2 + 1 of the 32 zmm).
template <int MR, int NV, class V>
__attribute__((noinline)) void fma_loop(int64_t kc, const typename V::Scalar* __restrict A,
                                        const typename V::Scalar* __restrict B, V (&out)[MR][NV]) {
  constexpr int W = V::W, NR = NV * W;
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
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) out[i][v] = acc[i][v];
}

template <class Op, int MR, int NV, class V>
void micro_fma(int64_t kc, const typename V::Scalar* __restrict A,
               const typename V::Scalar* __restrict B, const Tile& t) {
  constexpr int W = V::W, NR = NV * W;
  prefetch_tile<MR, NR * int(sizeof(typename V::Scalar))>(t, int(sizeof(typename V::Scalar)));
  V acc[MR][NV];
  fma_loop<MR, NV, V>(kc, A, B, acc);
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
void finish_buf_act(const float* buf, const Tile& t) {
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

// linear_glu (impl_epilogue.h: Glu): merge the partial sums, then the GLU epilogue.
template <class Op, int MR, int NV>
void finish_buf_glu(const float* buf, const Tile& t) {
  constexpr int W = VecF::W, NR = NV * W;
  float* c = static_cast<float*>(t.c);
  VecF acc[MR][NV];
  for (int i = 0; i < t.mv; ++i)
    for (int v = 0; v < NV; ++v) {
      const int nv = t.nv - v * W;
      acc[i][v] = loadu(buf + i * NR + v * W);
      if (nv <= 0) continue;
      if (!t.first) acc[i][v] = acc[i][v] + load_n(c + i * t.ldc + v * W, nv);
      if (!t.last) store_n(c + i * t.ldc + v * W, acc[i][v], nv);
    }
  if (!t.last) return;
  switch (t.p->out_dt) {
    case DT::BF16: finish_last_glu<Op, bf16_t>(acc, t); break;
    case DT::F16: finish_last_glu<Op, f16_t>(acc, t); break;
    default: finish_last_glu<Op, float>(acc, t); break;
  }
}

template <class Op, int MR, int NV>
void finish_buf(const float* buf, const Tile& t) {
  if constexpr (IsGlu<Op>::value)
    finish_buf_glu<typename Op::Inner, MR, NV>(buf, t);
  else
    finish_buf_act<Op, MR, NV>(buf, t);
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
