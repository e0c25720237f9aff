// torch_act — the CPU driver: implements kernels/cpu/cpu_ops.h on top of the
// active ISA's kernel table and the activation's kernels for that ISA
// (isa.cpp, kernels_impl.h, kernel_table.h).
//
// Forward  out = act(x . w^T + b):
//   * small shapes (K <= 16 or M*N*K <= 64Ki): the direct path, no A packing,
//     w transposed once into a small buffer; rows split over threads only
//     when there is enough work.
//   * otherwise BLIS-style: pack A once (one parallel pass, mr-row panels),
//     then a parallel grid of tasks (column blocks of nc, split in rows only
//     when there are fewer column blocks than threads); each task packs its
//     kc x nc slices of w^T into an L2-resident buffer and runs every K block
//     through the register-tiled microkernel with the bias + activation
//     (+ pre-activation) epilogue.  One pass over x and w in total.
//   * softmax / log_softmax: the GEMM writes z (into `out` for fp32/fp64, an
//     fp32 scratch for bf16/fp16), then a vectorised pass normalises each row.
// Backward: one fused pass computes dz = g * act'(s) into an fp32/fp64
// scratch together with per-block column sums for db (fixed 64-row blocks,
// reduced in block order: deterministic for any thread count); then
// dx = dz . w and dw = dz^T . x with the same GEMM (identity: g is used
// directly, no dz copy).  Undefined outputs are skipped.
// Threads: at::parallel_for (honours torch.set_num_threads; runs inline for
// small ranges and inside other parallel regions).  Workspaces: grow-only,
// 64-byte aligned thread-local buffers (no allocation per call once warm).
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>
#include <cstdlib>
#include <cstring>

#include "isa.h"
#include "kernel_table.h"
#include "cpu_ops.h"

namespace torch_act {
namespace cpu {
namespace {

constexpr int64_t kDirectMaxK = 16;
constexpr int64_t kDirectMaxWork = int64_t(1) << 16;  // M*N*K
constexpr int64_t kParallelMinWork = int64_t(1) << 17;  // flops-ish below which one thread runs
constexpr int64_t kDzRowBlock = 64;

DT to_dt(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DT::F32;
    case at::kDouble: return DT::F64;
    case at::kBFloat16: return DT::BF16;
    case at::kHalf: return DT::F16;
    default: TORCH_CHECK(false, "torch_act: unsupported dtype ", t);
  }
}

int64_t dt_size(DT d) { return d == DT::F64 ? 8 : d == DT::F32 ? 4 : 2; }
DT compute_of(DT d) { return d == DT::F64 ? DT::F64 : DT::F32; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Aligned scratch, one set per thread, reused across calls.  A buffer above
// kScratchKeepBytes is returned when the call that grew it ends (ScratchTrim),
// so the memory held between calls is bounded by kNumSlots * kScratchKeepBytes
// per thread, while small calls (the tiny layers where an allocation shows)
// keep reusing theirs.
enum Slot { kPackA = 0, kBSlice, kCPart, kDz, kDbParts, kDirect, kZ, kNumSlots };
constexpr size_t kScratchKeepBytes = size_t(16) << 20;

struct Scratch {
  void* p = nullptr;
  size_t n = 0;
  void* get(size_t bytes) {
    if (bytes > n) {
      release();
      const size_t sz = (bytes + 4095) / 4096 * 4096;
      TORCH_CHECK(posix_memalign(&p, 64, sz) == 0, "torch_act: out of memory (", sz, " bytes)");
      n = sz;
    }
    return p;
  }
  void release() {
    std::free(p);
    p = nullptr;
    n = 0;
  }
  ~Scratch() { std::free(p); }
};

Scratch* thread_scratch() {
  thread_local Scratch bufs[kNumSlots];
  return bufs;
}

void* scratch(Slot s, int64_t bytes) { return thread_scratch()[s].get(size_t(bytes > 0 ? bytes : 64)); }

// On destruction, frees this thread's large buffers: all slots (at the end of a
// public entry point, on the calling thread) or one (at the end of a parallel
// task: the caller's other slots are still in use by the other threads then).
struct ScratchTrim {
  int slot = -1;
  ScratchTrim() = default;
  explicit ScratchTrim(Slot s) : slot(s) {}
  ~ScratchTrim() {
    Scratch* b = thread_scratch();
    for (int i = 0; i < kNumSlots; ++i)
      if ((slot < 0 || slot == i) && b[i].n > kScratchKeepBytes) b[i].release();
  }
};

int64_t thread_scratch_bytes() {
  int64_t t = 0;
  for (int i = 0; i < kNumSlots; ++i) t += int64_t(thread_scratch()[i].n);
  return t;
}

// Runs f(begin, end) over [0, n): inline when the work is small, else on the
// intra-op pool with chunks of at least `grain`.
template <class F>
void maybe_parallel(int64_t n, int64_t grain, int64_t work, const F& f) {
  if (n <= 0) return;
  if (work < kParallelMinWork || at::get_num_threads() == 1 || n <= grain) {
    f(0, n);
    return;
  }
  at::parallel_for(0, n, grain, f);
}

// The activation's kernels on the active path.
const ActKernels* act_kernels(const KernelTable* kt, const KernelSet& act) {
  const ActKernels* ak = act.cpu[kt->isa];
  TORCH_CHECK(ak != nullptr, "torch_act: activation '", act.name,
              "' has no kernels for the CPU path '", kt->name,
              "' (its plugin was built without it); torch_act.set_cpu_isa() can pick another");
  return ak;
}

}  // namespace

// The activation's kernels on the active path (kernels/cpu/glu.cpp too).
const ActKernels* active_act_kernels(const KernelSet& act) {
  return act_kernels(active_kernels(), act);
}

namespace {
// The identity's kernels (the backward GEMMs).
const ActKernels* identity_kernels(const KernelTable* kt) { return kt->builtins[0]; }

// ---------------------------------------------------------------- GEMM
// glu_task: linear_glu's task (kernels/cpu/glu.cpp): always blocked, partial
// sums never in `out`.
using GemmTaskFn = decltype(ActKernels::gemm_task);
void run_gemm(const KernelTable* kt, const ActKernels* ak, const GemmProblem& p,
              GemmTaskFn glu_task = nullptr) {
  const int64_t M = p.M, N = p.N, K = p.K;
  if (M <= 0 || N <= 0) return;
  const int64_t work = M * N * (K > 0 ? K : 1);
  const int nthreads = at::get_num_threads();

  if (!glu_task && (K <= kDirectMaxK || work <= kDirectMaxWork)) {
    void* ws = scratch(kDirect, kt->direct_ws_bytes(&p));
    kt->direct_prep(&p, ws);
    const int64_t row_work = N * (K > 0 ? K : 1) + N * 8;
    const int64_t grain = std::max<int64_t>(4, kParallelMinWork / row_work / 4 * 4);
    maybe_parallel(M, grain, M * row_work, [&](int64_t m0, int64_t m1) {
      ak->direct_rows(&p, ws, m0, m1);
    });
    return;
  }

  Blocking bl;
  kt->blocking(&p, bf16_dot_for(kt, p), l2_bytes(), &bl);
  const int64_t kc = bl.kc;
  const int64_t npa = ceil_div(M, bl.mr), Mp = npa * bl.mr;
  // packed A: every K block of every panel (K rounded up per block to kalign)
  const int64_t nkb = ceil_div(K, kc);
  const int64_t a_elems =
      Mp * ((nkb - 1) * (kc + bl.a_pad) + round_up(K - (nkb - 1) * kc, bl.kalign) + bl.a_pad);
  char* pa = static_cast<char*>(scratch(kPackA, a_elems * bl.elem));
  {
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / (K * bl.mr));
    maybe_parallel(npa, grain, work, [&](int64_t i0, int64_t i1) {
      kt->pack_a(&p, &bl, i0, i1, pa);
    });
  }

  // Tasks: tn column blocks (each its own B slices, reused over all its rows)
  // x tm row ranges.  With at least one block per thread, N is first cut into
  // one range of whole nr-wide panels per thread (at::parallel_for hands each
  // thread an equal run of task indices) and each range into `per` equal
  // blocks of at most bl.nc columns: 3072 columns over 10 blocks of 320 had
  // given one thread 1600 columns and the other 1472 (8% idle), ~3% of the
  // samples of a 512x768->3072 forward in libgomp's barrier.
  int64_t tn = ceil_div(N, bl.nc), tm = 1;
  int64_t span = N, per = tn;  // columns per thread range, blocks per range
  if (nthreads > 1 && work >= kParallelMinWork) {
    if (tn >= nthreads) {
      span = round_up(ceil_div(N, int64_t(nthreads)), bl.nr);
      per = ceil_div(span, bl.nc);
      tn = ceil_div(N, span) * per;
    } else {
      tm = std::min(ceil_div(nthreads, tn), npa);
    }
  }
  const int64_t nc = round_up(ceil_div(span, per), bl.nr);
  if (per == tn) {  // one range: the plain split
    tn = ceil_div(N, nc);
    per = tn;
    span = N;
  }
  const int64_t mc = round_up(ceil_div(M, tm), bl.mr);
  tm = ceil_div(M, mc);
  // partial sums across K blocks: in `out` when it has the compute type
  void* cbuf = nullptr;
  int64_t ldc = 0;
  if (nkb > 1) {
    if (p.out_dt == p.compute && !glu_task) {
      cbuf = p.out;
      ldc = p.ldo;
    } else {
      cbuf = scratch(kCPart, M * N * dt_size(p.compute));
      ldc = N;
    }
  }
  const int64_t bbytes = kc * round_up(nc, bl.nr) * bl.elem;
  maybe_parallel(tm * tn, 1, work, [&](int64_t t0, int64_t t1) {
    ScratchTrim trim(kBSlice);
    void* bbuf = scratch(kBSlice, bbytes);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t jn = t / tm, im = t % tm;
      const int64_t r = jn / per, b = jn % per;  // thread range, block in it
      const int64_t m0 = im * mc, n0 = r * span + b * nc;
      const int64_t n1 = std::min({N, n0 + nc, (r + 1) * span});
      if (n0 >= n1) continue;
      (glu_task ? glu_task : ak->gemm_task)(&p, &bl, pa, m0, std::min(M, m0 + mc), n0, n1, bbuf,
                                            cbuf, ldc);
    }
  });
}

MatRef mat(const at::Tensor& t) {
  return MatRef{t.const_data_ptr(), to_dt(t.scalar_type()), t.stride(0), t.stride(1)};
}

void zero_fill(const at::Tensor& t) {
  if (t.defined() && t.numel() > 0) std::memset(t.data_ptr(), 0, t.numel() * t.element_size());
}

}  // namespace

int64_t scratch_bytes_held() { return thread_scratch_bytes(); }

// ----------------------------------------------------------------- forward
void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                        const KernelSet& act, double alpha, const at::Tensor& out,
                        const at::Tensor& preact) {
  ScratchTrim trim;
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);  // row activations: the identity's GEMM
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  if (M == 0 || N == 0) return;
  const DT dt = to_dt(x.scalar_type());
  const bool rowwise = act.rowwise != Rowwise::None;

  GemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a = mat(x);
  p.bt = mat(w);
  p.bias = b.defined() ? b.const_data_ptr() : nullptr;
  p.bias_dt = dt;
  p.out = out.data_ptr();
  p.out_dt = dt;
  p.ldo = N;
  p.pre = preact.defined() ? preact.data_ptr() : nullptr;
  p.pre_dt = dt;
  p.ldp = N;
  p.alpha = alpha;
  p.compute = compute_of(dt);

  if (!rowwise) {
    run_gemm(kt, ak, p);
    return;
  }
  // Row activations: z first (fp32 scratch for 16-bit outputs), then rows.
  void* z = p.out;
  DT zdt = dt;
  if (dt == DT::BF16 || dt == DT::F16) {
    z = scratch(kZ, M * N * 4);
    zdt = DT::F32;
    p.out = z;
    p.out_dt = zdt;
  }
  run_gemm(kt, ak, p);
  const int log = act.rowwise == Rowwise::LogSoftmax ? 1 : 0;
  const int64_t zs = dt_size(zdt), ys = dt_size(dt);
  void* y = out.data_ptr();
  maybe_parallel(M, std::max<int64_t>(1, 4096 / N), M * N * 16, [&](int64_t r0, int64_t r1) {
    kt->softmax_rows(static_cast<char*>(z) + r0 * N * zs, zdt, N,
                     static_cast<char*>(y) + r0 * N * ys, dt, N, r1 - r0, N, log);
  });
}

// ------------------------------------------------------ small-layer backward
namespace {

template <class C, class T>
void prep_w_rows(const T* w, int64_t rs, int64_t cs, int64_t N, int64_t K, int64_t Kp, C* out) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < Kp; ++k) out[n * Kp + k] = k < K ? C(w[n * rs + k * cs]) : C(0);
}

// out[r][c] = sum over blocks b, in block order, of parts[b * stride + r * ldp + c]
template <class C, class T>
void reduce_parts(const C* parts, int64_t nblk, int64_t stride, int64_t rows, int64_t cols,
                  int64_t ldp, T* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      C acc = 0;
      for (int64_t b = 0; b < nblk; ++b) acc += parts[b * stride + r * ldp + c];
      out[r * cols + c] = T(acc);
    }
}

template <class C>
void reduce_parts_to(const C* parts, int64_t nblk, int64_t stride, int64_t rows, int64_t cols,
                     int64_t ldp, const at::Tensor& out) {
  switch (out.scalar_type()) {
    case at::kFloat: reduce_parts(parts, nblk, stride, rows, cols, ldp, out.data_ptr<float>()); break;
    case at::kDouble: reduce_parts(parts, nblk, stride, rows, cols, ldp, out.data_ptr<double>()); break;
    case at::kBFloat16:
      reduce_parts(parts, nblk, stride, rows, cols, ldp, out.data_ptr<at::BFloat16>());
      break;
    default: reduce_parts(parts, nblk, stride, rows, cols, ldp, out.data_ptr<at::Half>()); break;
  }
}

// The same over raw compute-type partials (F32 or F64).
void reduce_block_sums(DT cdt, const void* parts, int64_t nblk, int64_t stride, int64_t rows,
                       int64_t cols, int64_t ldp, const at::Tensor& out) {
  if (cdt == DT::F64)
    reduce_parts_to(static_cast<const double*>(parts), nblk, stride, rows, cols, ldp, out);
  else
    reduce_parts_to(static_cast<const float*>(parts), nblk, stride, rows, cols, ldp, out);
}

bool use_small_backward(int64_t N, int64_t K) {
  return N <= kSmallBwdMaxN && round_up(std::max<int64_t>(K, 1), 16) <= kSmallBwdMaxKp;
}

// Narrow layers: one pass over fixed 64-row blocks does dz, dx, and per-block
// dw/db partial sums (kernel_table.h: small_bwd_rows); the partials are then
// reduced in block order, so results do not depend on the thread count.
void small_backward(const ActKernels* ak, const at::Tensor& g, const at::Tensor& x,
                    const at::Tensor& w, const at::Tensor& s, double alpha,
                    const at::Tensor& dx, const at::Tensor& dw, const at::Tensor& db) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  const DT dt = to_dt(x.scalar_type());
  const DT cdt = compute_of(dt);
  const int64_t csz = dt_size(cdt);
  SmallBwdProblem p;
  p.N = N;
  p.K = K;
  p.Kp = round_up(std::max<int64_t>(K, 1), 16);
  p.g = mat(g);
  p.s = s.defined() ? s.const_data_ptr() : nullptr;
  p.sdt = dt;
  p.lds = N;
  p.x = mat(x);
  p.wp = nullptr;
  p.dx = dx.defined() ? dx.data_ptr() : nullptr;
  p.dxdt = dt;
  p.lddx = K;
  p.alpha = alpha;
  p.compute = cdt;
  if (dx.defined()) {
    void* wp = scratch(kDirect, N * p.Kp * csz);
    const int64_t rs = w.stride(0), cs = w.stride(1);
    if (cdt == DT::F64) {
      prep_w_rows(w.const_data_ptr<double>(), rs, cs, N, K, p.Kp, static_cast<double*>(wp));
    } else {
      float* o = static_cast<float*>(wp);
      switch (dt) {
        case DT::F32: prep_w_rows(w.const_data_ptr<float>(), rs, cs, N, K, p.Kp, o); break;
        case DT::BF16: prep_w_rows(w.const_data_ptr<at::BFloat16>(), rs, cs, N, K, p.Kp, o); break;
        default: prep_w_rows(w.const_data_ptr<at::Half>(), rs, cs, N, K, p.Kp, o); break;
      }
    }
    p.wp = wp;
  }
  const int64_t dw_elems = dw.defined() ? N * p.Kp : 0;
  const int64_t part = dw_elems + (db.defined() ? N : 0);
  const int64_t nblk = ceil_div(M, kDzRowBlock);
  char* parts = part ? static_cast<char*>(scratch(kDbParts, nblk * part * csz)) : nullptr;
  maybe_parallel(nblk, 1, M * N * (K + 8) * 2, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      char* pp = parts ? parts + blk * part * csz : nullptr;
      if (pp) std::memset(pp, 0, part * csz);
      ak->small_bwd_rows(&p, blk * kDzRowBlock, std::min(M, (blk + 1) * kDzRowBlock),
                         dw.defined() ? pp : nullptr,
                         db.defined() ? pp + dw_elems * csz : nullptr);
    }
  });
  if (dw.defined()) reduce_block_sums(cdt, parts, nblk, part, N, K, p.Kp, dw);
  if (db.defined()) reduce_block_sums(cdt, parts + dw_elems * csz, nblk, part, 1, N, N, db);
}

}  // namespace

// ---------------------------------------------------------------- backward
void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, const KernelSet& act, double alpha,
                         const at::Tensor& dx, const at::Tensor& dw, const at::Tensor& db) {
  ScratchTrim trim;
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  const DT dt = to_dt(x.scalar_type());
  const DT cdt = compute_of(dt);
  const int64_t csz = dt_size(cdt);

  if (M == 0 || N == 0) {  // empty reductions are zeros
    if (M == 0) zero_fill(dw), zero_fill(db);
    if (N == 0) zero_fill(dx);
    return;
  }
  if (use_small_backward(N, K)) {
    small_backward(ak, g, x, w, s, alpha, dx, dw, db);
    return;
  }
  const bool want_gemm = (dx.defined() || dw.defined()) && K > 0;
  const bool identity = act.identity;
  const MatRef gref = mat(g);

  // dz = g * act'(s) (+ db partial sums), one pass.
  MatRef dz = gref;
  if ((want_gemm && !identity) || db.defined()) {
    // bf16: dz is rounded to bf16 (what the bf16 GEMMs consume anyway, and what
    // eager's gelu_backward etc. produce): half the traffic of an fp32 dz.
    const DT dzdt = dt == DT::BF16 ? DT::BF16 : cdt;
    void* dzbuf = (want_gemm && !identity) ? scratch(kDz, M * N * dt_size(dzdt)) : nullptr;
    const int64_t nblk = ceil_div(M, kDzRowBlock);
    char* parts = db.defined() ? static_cast<char*>(scratch(kDbParts, nblk * N * csz)) : nullptr;
    const void* sp = s.defined() ? s.const_data_ptr() : nullptr;
    maybe_parallel(nblk, 1, M * N * 8, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        void* part = parts ? parts + blk * N * csz : nullptr;
        if (part) std::memset(part, 0, N * csz);
        ak->dz_rows(&gref, sp, dt, N, blk * kDzRowBlock, std::min(M, (blk + 1) * kDzRowBlock), N,
                    alpha, dzbuf, dzdt, N, part);
      }
    });
    if (dzbuf) dz = MatRef{dzbuf, dzdt, N, 1};
    if (db.defined()) {
      // fixed-order reduction of the block sums
      reduce_block_sums(cdt, parts, nblk, N, 1, N, N, db);
    }
  }
  if (!want_gemm) return;

  GemmProblem p;
  p.bias = nullptr;
  p.bias_dt = dt;
  p.pre = nullptr;
  p.pre_dt = dt;
  p.ldp = 0;
  p.alpha = 0.0;
  p.compute = cdt;
  p.out_dt = dt;

  if (dx.defined()) {  // dx[M,K] = dz[M,N] . w[N,K]
    p.M = M;
    p.N = K;
    p.K = N;
    p.a = dz;
    p.bt = MatRef{w.const_data_ptr(), dt, w.stride(1), w.stride(0)};
    p.out = dx.data_ptr();
    p.ldo = K;
    run_gemm(kt, identity_kernels(kt), p);
  }
  if (dw.defined()) {  // dw[N,K] = dz^T[N,M] . x[M,K]
    p.M = N;
    p.N = K;
    p.K = M;
    p.a = MatRef{dz.p, dz.dt, dz.cs, dz.rs};
    p.bt = MatRef{x.const_data_ptr(), dt, x.stride(1), x.stride(0)};
    p.out = dw.data_ptr();
    p.ldo = K;
    run_gemm(kt, identity_kernels(kt), p);
  }
}

// ------------------------------------------------------------ linear_glu
void run_glu_gemm(const GemmProblem& p, const KernelSet& act) {
  ScratchTrim trim;
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  TORCH_CHECK(ak->glu_gemm_task != nullptr, "torch_act: activation '", act.name,
              "' has no linear_glu kernel on the CPU path '", kt->name, "'");
  run_gemm(kt, ak, p, ak->glu_gemm_task);
}

// ------------------------------------------------------- microkernel peak
MicroPeak micro_peak(double seconds) {
  const KernelTable* kt = active_kernels();
  GemmProblem q{};
  q.M = q.N = q.K = 256;
  q.a.dt = q.bt.dt = q.out_dt = q.bias_dt = q.pre_dt = q.compute = DT::F32;
  Blocking bl;
  kt->blocking(&q, 0, l2_bytes(), &bl);
  MicroPeak r;
  r.isa = kt->name;
  r.mr = bl.mr;
  r.nr = bl.nr;
  r.kc = 256;
  double gf[4] = {0, 0, 0, 0};
  // modes 2, 3: the bf16 pair kernel and a pure vdpbf16ps loop (0 where this
  // path has no bf16 dot product or the CPU lacks AVX512-BF16)
  const int nmodes = cpu_has_bf16_dot() ? 4 : 2;
  for (int mode = 0; mode < nmodes; ++mode) {
    int64_t reps = 64;
    for (;;) {  // grow reps until one timed call lasts about `seconds`
      const auto t0 = std::chrono::steady_clock::now();
      const double flops = kt->micro_bench(r.kc, reps, mode);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (flops == 0.0) break;
      if (s >= seconds || reps > (int64_t(1) << 40)) {
        gf[mode] = flops / s / 1e9;
        break;
      }
      reps = s > 1e-3 ? std::max<int64_t>(reps * 2, int64_t(double(reps) * seconds / s * 1.1))
                      : reps * 8;
    }
  }
  r.microkernel_gflops = gf[0];
  r.fma_loop_gflops = gf[1];
  r.bf16_microkernel_gflops = gf[2];
  r.bf16_dot_loop_gflops = gf[3];
  return r;
}

// --------------------------------------------------------------- threads
int64_t parallel_width() {
  const int64_t n = at::get_num_threads();
  std::vector<std::atomic<int>> seen(n);
  for (auto& s : seen) s = 0;
  // one item per thread, each busy long enough that one thread cannot take them all
  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    const int tid = at::get_thread_num();
    if (tid >= 0 && tid < n) seen[tid] = 1;
    volatile double sink = 0;
    for (int64_t i = 0; i < (e - b) * 200000; ++i) sink = sink + 1.0;
  });
  int64_t used = 0;
  for (auto& s : seen) used += s.load();
  return used;
}

// ------------------------------------------------------------- activations
void activation_forward(const at::Tensor& x, const KernelSet& act, double alpha,
                        const at::Tensor& out) {
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  const int64_t numel = x.numel();
  if (numel == 0) return;
  const DT dt = to_dt(x.scalar_type());
  const int64_t es = dt_size(dt);
  const char* xp = static_cast<const char*>(x.const_data_ptr());
  char* yp = static_cast<char*>(out.data_ptr());
  if (act.rowwise != Rowwise::None) {
    const int64_t n = x.dim() ? x.size(-1) : 1;
    const int log = act.rowwise == Rowwise::LogSoftmax ? 1 : 0;
    maybe_parallel(numel / n, std::max<int64_t>(1, 4096 / n), numel * 16, [&](int64_t r0, int64_t r1) {
      kt->softmax_rows(xp + r0 * n * es, dt, n, yp + r0 * n * es, dt, n, r1 - r0, n, log);
    });
    return;
  }
  constexpr int64_t chunk = 8192;
  maybe_parallel(ceil_div(numel, chunk), 4, numel * 8, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * chunk, i1 = std::min(numel, c1 * chunk);
    ak->act_forward(xp + i0 * es, dt, yp + i0 * es, dt, i1 - i0, alpha);
  });
}

void activation_backward(const at::Tensor& g, const at::Tensor& s, const KernelSet& act,
                         double alpha, const at::Tensor& dx) {
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  const int64_t numel = g.numel();
  if (numel == 0) return;
  const DT dt = to_dt(g.scalar_type());
  const int64_t es = dt_size(dt);
  const char* gp = static_cast<const char*>(g.const_data_ptr());
  const char* sp = s.defined() ? static_cast<const char*>(s.const_data_ptr()) : nullptr;
  char* dp = static_cast<char*>(dx.data_ptr());
  if (act.rowwise != Rowwise::None) {
    const int64_t n = g.dim() ? g.size(-1) : 1;
    maybe_parallel(numel / n, std::max<int64_t>(1, 4096 / n), numel * 8, [&](int64_t r0, int64_t r1) {
      const MatRef gr{gp + r0 * n * es, dt, n, 1};
      ak->dz_rows(&gr, sp + r0 * n * es, dt, n, 0, r1 - r0, n, alpha, dp + r0 * n * es, dt, n,
                  nullptr);
    });
    return;
  }
  constexpr int64_t chunk = 8192;
  maybe_parallel(ceil_div(numel, chunk), 4, numel * 8, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * chunk, i1 = std::min(numel, c1 * chunk);
    const MatRef gr{gp + i0 * es, dt, 0, 1};
    ak->dz_rows(&gr, sp ? sp + i0 * es : nullptr, dt, 0, 0, 1, i1 - i0, alpha, dp + i0 * es, dt,
                0, nullptr);
  });
}

void activation_deriv(const at::Tensor& g, const at::Tensor& s, const KernelSet& act, double alpha,
                      int64_t order, const at::Tensor& out) {
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  TORCH_CHECK(ak->deriv != nullptr, "torch_act: activation '", act.name,
              "' has no elementwise higher-derivative kernel");
  const int64_t numel = g.numel();
  if (numel == 0) return;
  const DT dt = to_dt(g.scalar_type());
  const int64_t es = dt_size(dt);
  const char* gp = static_cast<const char*>(g.const_data_ptr());
  const char* sp = static_cast<const char*>(s.const_data_ptr());
  char* op = static_cast<char*>(out.data_ptr());
  constexpr int64_t chunk = 8192;
  maybe_parallel(ceil_div(numel, chunk), 4, numel * 8, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * chunk, i1 = std::min(numel, c1 * chunk);
    ak->deriv(static_cast<int32_t>(order), gp + i0 * es, sp + i0 * es, dt, i1 - i0, alpha,
              op + i0 * es);
  });
}

// ------------------------------------------------------------ save="mask"
// bits [M, ceil(N/8)] from the saved rows s [M, N] (contiguous): the active
// ISA's mask_rows kernel over row blocks.
void mask_pack(const at::Tensor& s, const KernelSet& act, double alpha, double off,
               const at::Tensor& bits) {
  const KernelTable* kt = active_kernels();
  const ActKernels* ak = act_kernels(kt, act);
  TORCH_CHECK(ak->mask_rows != nullptr, "torch_act: activation '", act.name,
              "' has no mask kernel on the CPU path '", kt->name, "'");
  const int64_t M = s.size(0), N = s.size(1), nb = bits.size(1);
  if (M == 0 || N == 0) return;
  const DT dt = to_dt(s.scalar_type());
  const int64_t es = dt_size(dt);
  const char* sp = static_cast<const char*>(s.const_data_ptr());
  uint8_t* bp = bits.data_ptr<uint8_t>();
  maybe_parallel(M, std::max<int64_t>(1, 16384 / N), M * N * 4, [&](int64_t r0, int64_t r1) {
    ak->mask_rows(sp + r0 * N * es, dt, N, r1 - r0, N, alpha, off, bp + r0 * nb, nb);
  });
}

// dz = g * slope(bit) (g, out [M, N] contiguous): the active ISA's
// mask_grad_rows kernel over row blocks.
void mask_grad(const at::Tensor& g, const at::Tensor& bits, double on, double off,
               const at::Tensor& out) {
  const int64_t M = g.size(0), N = g.size(1), nb = bits.size(1);
  if (M == 0 || N == 0) return;
  const KernelTable* kt = active_kernels();
  const DT dt = to_dt(g.scalar_type());
  const int64_t es = dt_size(dt);
  // g's rows at stride ldg: any row stride with contiguous rows is read in
  // place (a broadcast g, stride 0, included); a broadcast scalar (strides
  // 0, 0) becomes one materialised row; other layouts are copied.
  at::Tensor gs = g;
  int64_t ldg = M == 1 ? N : g.stride(0);
  if (N > 1 && g.stride(1) != 1) {
    if (g.stride(0) == 0) {
      gs = g.select(0, 0).contiguous();
      ldg = 0;
    } else {
      gs = g.contiguous();
      ldg = N;
    }
  }
  const char* gp = static_cast<const char*>(gs.const_data_ptr());
  const uint8_t* bp = bits.const_data_ptr<uint8_t>();
  char* op = static_cast<char*>(out.data_ptr());
  maybe_parallel(M, std::max<int64_t>(1, 16384 / N), M * N * 2, [&](int64_t r0, int64_t r1) {
    if (ldg == N) {
      kt->mask_grad_rows(gp + r0 * N * es, dt, bp + r0 * nb, nb, r1 - r0, N, on, off, op + r0 * N * es);
      return;
    }
    for (int64_t r = r0; r < r1; ++r)
      kt->mask_grad_rows(gp + r * ldg * es, dt, bp + r * nb, nb, 1, N, on, off, op + r * N * es);
  });
}

}  // namespace cpu
}  // namespace torch_act
