// torch_act — CPU ISA detection and runtime dispatch.
//
// The kernels exist as one table of function pointers per ISA (amx = avx512
// plus AMX tiles for bfloat16, avx512, avx2, portable; the x86 ones only in
// x86-64 builds).  At load we pick the best one
// the CPU and OS support (CPUID + XGETBV for the AVX/AVX-512 register state),
// or the one named by TORCH_ACT_CPU_ISA (an unknown or unsupported name falls
// back with a warning).  set_isa() switches later, with a clear error.
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "isa.h"
#include "cpu_ops.h"

#if defined(TORCH_ACT_X86)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace torch_act {
namespace cpu {
namespace {

struct Features {
  bool avx2 = false;    // AVX2 + FMA + F16C, OS saves ymm
  bool avx512 = false;  // AVX-512 F/BW/VL/DQ, OS saves zmm/opmask
  bool bf16 = false;    // AVX512_BF16
  bool amx = false;     // AMX-TILE + AMX-BF16, OS saves tile state
};

#if defined(TORCH_ACT_X86)
uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}
#endif

Features detect() {
  Features f;
#if defined(TORCH_ACT_X86)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
             f16c = c & (1u << 29);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = (xcr0 & 0xE6) == 0xE6;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512dq = b & (1u << 17),
             avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
  const bool os_tile = (xcr0 & 0x60000) == 0x60000;
  __cpuid_count(7, 1, a, b, c, d);
  const bool avx512bf16 = a & (1u << 5);
  f.avx2 = os_ymm && avx && avx2 && fma && f16c;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
  f.bf16 = f.avx512 && avx512bf16;
  f.amx = f.avx512 && amx_bf16 && amx_tile && os_tile;
#if defined(__linux__)
  // Linux hands out the AMX tile state only on request (ARCH_REQ_XCOMP_PERM,
  // XFEATURE_XTILEDATA); process-wide and idempotent.
  if (f.amx) f.amx = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

struct IsaEntry {
  const char* name;
  const KernelTable* (*table)();
  bool (*supported)();
};

const IsaEntry kIsas[] = {  // best first
#if defined(TORCH_ACT_X86)
    {"amx", kernels_amx, [] { return features().amx; }},
    {"avx512", kernels_avx512, [] { return features().avx512; }},
    {"avx2", kernels_avx2, [] { return features().avx2; }},
#endif
    {"portable", kernels_portable, [] { return true; }},
};

const IsaEntry* find_isa(const std::string& name) {
  for (const auto& e : kIsas)
    if (name == e.name) return &e;
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const IsaEntry* best_supported() {
  for (const auto& e : kIsas)
    if (e.supported()) return &e;
  return &kIsas[sizeof(kIsas) / sizeof(kIsas[0]) - 1];
}

const IsaEntry* initial_isa() {
  const char* env = std::getenv("TORCH_ACT_CPU_ISA");
  if (env && *env) {
    const IsaEntry* e = find_isa(env);
    if (e && e->supported()) return e;
    TORCH_WARN("torch_act: TORCH_ACT_CPU_ISA=", env,
               e ? " is not supported by this CPU" : " is not a known ISA",
               " (this build and machine support: ", join(supported_isas()), "); using ",
               best_supported()->name);
  }
  return best_supported();
}

std::atomic<const IsaEntry*>& current() {
  static std::atomic<const IsaEntry*> cur{initial_isa()};
  return cur;
}

// Choose at load time (also makes later calls lock-free).
const bool kChosenAtLoad = (current(), true);

}  // namespace

const KernelTable* active_kernels() { return current().load(std::memory_order_relaxed)->table(); }

// vdpbf16ps does 2x the flops of an fp32 FMA per instruction, but how many it
// issues per cycle depends on the core: a Zen 4 runs it at twice the fp32 FMA
// rate (230 vs 116 GFLOP/s per core), a Sapphire / Emerald Rapids at half of
// it (90 vs 187), where bf16 GEMMs are twice as fast widened to fp32 while
// packing (or on AMX tiles).  Which CPU has which is not in CPUID (a VM can
// hide AMX on a Sapphire Rapids, which then looks like a Cooper Lake or a Zen
// 4), so the first bf16 GEMM on the avx512 path times both loops once (the
// micro_bench loops of cpu_micro_peak, a few ms) and takes vdpbf16ps only when
// it runs 1.25x the FMA loop's flops or more; the two measured so far differ by
// 2x either way.  TORCH_ACT_CPU_BF16_DOT=1/0 forces it on/off (no timing).
namespace {
Bf16Kernel choose_bf16_kernel() {
  Bf16Kernel c;
  if (!features().bf16) {
    c.why = "the CPU has no AVX512-BF16";
    return c;
  }
  const char* e = std::getenv("TORCH_ACT_CPU_BF16_DOT");
  if (e && *e) {
    c.dot = std::string(e) != "0";
    c.why = "TORCH_ACT_CPU_BF16_DOT";
    return c;
  }
#if defined(TORCH_ACT_X86)
  const KernelTable* kt = kernels_avx512();
  const auto rate = [kt](int32_t mode, int64_t reps) {  // GFLOP/s of one call
    const auto t0 = std::chrono::steady_clock::now();
    const double flops = kt->micro_bench(256, reps, mode);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s > 0 ? flops / s / 1e9 : 0.0;
  };
  rate(1, 64), rate(3, 64);  // warm-up: the 512-bit units and their clock
  for (int r = 0; r < 3; ++r) {  // interleaved, best of 3: ~0.2-0.6 ms each
    c.fma_gflops = std::max(c.fma_gflops, rate(1, 256));
    c.dot_gflops = std::max(c.dot_gflops, rate(3, 256));
  }
  c.dot = c.dot_gflops >= 1.25 * c.fma_gflops;
  c.why = "measured";
#endif
  return c;
}
}  // namespace

const Bf16Kernel& bf16_kernel() {
  static const Bf16Kernel c = choose_bf16_kernel();
  return c;
}

int32_t bf16_dot_for(const KernelTable* kt, const GemmProblem& p) {
  if (kt->isa != static_cast<int32_t>(CpuIsa::Avx512)) return 0;  // amx: tiles; avx2, portable: none
  if (p.a.dt != DT::BF16 && p.bt.dt != DT::BF16) return 0;
  return bf16_kernel().dot ? 1 : 0;
}

bool cpu_has_bf16_dot() { return features().bf16; }

int64_t l2_bytes() {
  static const int64_t bytes = [] {
    const char* e = std::getenv("TORCH_ACT_L2_BYTES");
    const int64_t b = e && *e ? std::atoll(e) : 0;
    return b > 0 ? std::clamp<int64_t>(b, int64_t(128) << 10, int64_t(64) << 20) : int64_t(0);
  }();
  return bytes;
}

const ActKernels* builtin_kernels(CpuIsa isa, int index) {
  if (index < 0 || index >= kNumBuiltinActivations) return nullptr;
  for (const auto& e : kIsas)
    if (e.table()->isa == static_cast<int32_t>(isa)) return e.table()->builtins[index];
  return nullptr;
}

std::vector<std::string> compiled_isas() {
  std::vector<std::string> v;
  for (const auto& e : kIsas) v.emplace_back(e.name);
  return v;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> v;
  for (const auto& e : kIsas)
    if (e.supported()) v.emplace_back(e.name);
  return v;
}

std::string current_isa() {
  (void)kChosenAtLoad;
  return current().load()->name;
}

void set_isa(const std::string& isa) {
  const IsaEntry* e = find_isa(isa);
  TORCH_CHECK(e != nullptr, "torch_act.set_cpu_isa: unknown CPU ISA '", isa,
              "'; this build has: ", join(compiled_isas()));
  TORCH_CHECK(e->supported(), "torch_act.set_cpu_isa: ISA '", isa,
              "' is not supported by this CPU; supported: ", join(supported_isas()));
  current().store(e);
}

}  // namespace cpu
}  // namespace torch_act
