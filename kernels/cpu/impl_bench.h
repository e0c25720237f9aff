// torch_act — CPU kernels, part of kernels_impl.h: the microkernel / FMA-peak benchmark behind torch_act._C.cpu_micro_peak.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
// ----------------------------------------------------- microkernel benchmark
// mode 0: the fp32 FMA microkernel alone, reps passes over one kc x MR A panel
// and one kc x NR B panel (cache-resident: no packing, no memory traffic), C
// tile stored once per pass.  mode 1: a pure FMA loop with MR x NV
// independent accumulators (distinct start values, so the compiler cannot
// merge equal chains) and no loads: the core's FMA throughput.  Returns
// the floating-point operations done; the driver times the call.

// MR x NV accumulators with distinct start values (so the compiler cannot
// merge equal chains), each advanced `steps` times by step(acc); their sum
// goes to a volatile sink.
template <int MR, int NV, class Step>
void chain_loop(int64_t steps, Step step) {
  VecF acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = VecF::set1(1.0f + 0.001f * float(i * NV + v));
  for (int64_t r = 0; r < steps; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = step(acc[i][v]);
  }
  VecF sum = VecF::zero();
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) sum = sum + acc[i][v];
  volatile float sink = hsum(sum);
  (void)sink;
}

// One MR x NR fp32 tile written to `out` (row stride NR), no bias, K = k.
inline GemmProblem tile_problem(int MR, int NR, int64_t k, void* out) {
  GemmProblem p{};
  p.M = MR;
  p.N = NR;
  p.K = k;
  p.out = out;
  p.out_dt = DT::F32;
  p.ldo = NR;
  p.bias_dt = DT::F32;
  p.pre_dt = DT::F32;
  p.compute = DT::F32;
  return p;
}

// modes 2 and 3, the bf16 pair path (AVX512-BF16 builds; 0 elsewhere): mode 2
// the pair microkernel (micro_bf16) alone on cache-resident panels, mode 3 a
// pure vdpbf16ps loop with MR x NV distinct accumulators.  A vdpbf16ps lane
// does two multiply-adds, so one instruction counts 4 x W flops.
double micro_bench_bf16(int64_t kc, int64_t reps, int32_t mode) {
#ifdef TA_HAS_BF16_DOT
  constexpr int MR = kMrBf16, NV = kNvBf16, W = VecF::W, NR = NV * W;
  const int64_t kc2 = kc / 2;
  if (mode == 3) {
    const __m512i a = _mm512_set1_epi32(0x3F803F80), b = _mm512_set1_epi32(0x33D633D6);  // 1.0, 1e-7
    chain_loop<MR, NV>(reps * kc2, [&](VecF c) { return dot_bf16(c, a, b); });
    return 4.0 * MR * NR * double(kc2) * double(reps);
  }
  bf16_t* buf = nullptr;
  const int64_t n = kc2 * 2 * (MR + NR) + 2 * MR * NR;
  if (posix_memalign(reinterpret_cast<void**>(&buf), 64, size_t(n) * 2) != 0) return 0.0;
  for (int64_t i = 0; i < n; ++i) from_f32(float(i % 7) * 0.125f, buf + i);
  // the fp32 C tile after the panels (2 * MR * NR bf16 of room)
  const GemmProblem p = tile_problem(MR, NR, 2 * kc2, buf + kc2 * 2 * (MR + NR));
  const Tile t{&p, 0, 0, MR, NR, true, true, nullptr, 0};
  for (int64_t r = 0; r < reps; ++r)
    micro_bf16<acts::Identity, MR, NV>(kc2, buf, buf + kc2 * 2 * MR, t);
  free(buf);
  return 4.0 * MR * NR * double(kc2) * double(reps);
#else
  (void)kc, (void)reps, (void)mode;
  return 0.0;
#endif
}

double micro_bench_fn(int64_t kc, int64_t reps, int32_t mode) {
  if (mode >= 2) return micro_bench_bf16(kc, reps, mode);
  constexpr int MR = kMrF32, NV = kNvF32, W = VecF::W, NR = NV * W;
  if (mode == 1) {
    const VecF a = VecF::set1(0.999999f), b = VecF::set1(1e-7f);
    chain_loop<MR, NV>(reps * kc, [&](VecF c) { return fmadd(c, a, b); });
    return 2.0 * MR * NR * double(kc) * double(reps);
  }
  float* buf = nullptr;
  const int64_t n = kc * MR + kc * NR + MR * NR;
  if (posix_memalign(reinterpret_cast<void**>(&buf), 64, size_t(n) * 4) != 0) return 0.0;
  for (int64_t i = 0; i < n; ++i) buf[i] = float(i % 7) * 0.125f;
  const float* A = buf;
  const float* B = buf + kc * MR;
  const GemmProblem p = tile_problem(MR, NR, kc, buf + kc * MR + kc * NR);
  const Tile t{&p, 0, 0, MR, NR, true, true, nullptr, 0};
  for (int64_t r = 0; r < reps; ++r) micro_fma<acts::Identity, MR, NV, VecF>(kc, A, B, t);
  free(buf);
  return 2.0 * MR * NR * double(kc) * double(reps);
}
