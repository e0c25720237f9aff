// torch_act — the CPU forward of linear_glu in one GEMM pass:
//   out = act(x . wg^T + bg) * (x . wu^T + bu)
// (and, last in this file, the backward's one pass through the gate).
// The two weights are laid out as ONE B of interleaved panels (what the
// blocked GEMM packs and streams): with the active path's register tile of nr
// columns and h = nr / 2, panel P holds gate rows P*h .. P*h+h-1 then up rows
// P*h .. P*h+h-1 (rows >= N are zeros; the bias likewise), so the gate and
// up products of output column P*h + j sit in the same register tile and the
// epilogue (impl_epilogue.h: finish_last_glu) writes act(z_gate) * z_up once,
// plus [z_gate | z_up] when the backward wants it.  Partial sums over K
// blocks go to an fp32 / fp64 scratch of the interleaved width, never into
// `out` (N wide).  Threads, packing of x and blocking: the shared driver
// (linear_act.cpp: run_gemm, called through run_glu_gemm).
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>

#include "cpu_ops.h"
#include "isa.h"
#include "kernel_table.h"

namespace torch_act {
namespace cpu {

// linear_act.cpp: the blocked GEMM with the activation's glu_gemm_task; the
// activation's kernels on the active path.
void run_glu_gemm(const GemmProblem& p, const KernelSet& act);
const ActKernels* active_act_kernels(const KernelSet& act);

namespace {
DT dt_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DT::F32;
    case at::kDouble: return DT::F64;
    case at::kBFloat16: return DT::BF16;
    case at::kHalf: return DT::F16;
    default: TORCH_CHECK(false, "torch_act: unsupported dtype ", t);
  }
}

// Interleaves gate / up rows panel by panel in one copy each: g, u [N] or
// [N, K] -> [P*2h] or [P*2h, K] (panel P: g rows P*h.., then u rows P*h..;
// missing rows, and an undefined g or u, are zeros).
at::Tensor interleave(const at::Tensor& g, const at::Tensor& u, int64_t n, int64_t panels, int64_t h,
                      const at::Tensor& like, int64_t k) {
  std::vector<int64_t> shape = {panels, 2, h};
  if (k >= 0) shape.push_back(k);
  at::Tensor w = at::empty(shape, like.options());
  const at::Tensor* src[2] = {&g, &u};
  const int64_t full = n / h, rem = n - full * h;  // whole panels, rows of the last one
  for (int s = 0; s < 2; ++s) {
    const at::Tensor half = w.select(1, s);  // [P, h(, K)], panel stride 2h(K)
    if (!src[s]->defined()) {
      half.zero_();
      continue;
    }
    if (full > 0) {
      std::vector<int64_t> fs = {full, h};
      if (k >= 0) fs.push_back(k);
      half.narrow(0, 0, full).copy_(src[s]->narrow(0, 0, full * h).reshape(fs));
    }
    if (rem > 0) {
      const at::Tensor last = half.select(0, full);  // [h(, K)]
      last.narrow(0, 0, rem).copy_(src[s]->narrow(0, full * h, rem));
      last.narrow(0, rem, h - rem).zero_();
    }
  }
  shape = {panels * 2 * h};
  if (k >= 0) shape.push_back(k);
  return w.view(shape);
}
}  // namespace

void linear_glu_forward(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                        const at::Tensor& bg, const at::Tensor& bu, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& z) {
  const int64_t M = x.size(0), K = x.size(1), N = wg.size(0);
  if (M == 0 || N == 0) return;
  TORCH_CHECK(K > 0, "torch_act: linear_glu_forward needs K > 0");
  const DT dt = dt_of(x.scalar_type());
  GemmProblem p;
  p.M = M;
  p.K = K;
  p.a = MatRef{x.const_data_ptr(), dt, x.stride(0), x.stride(1)};
  p.bt = MatRef{wg.const_data_ptr(), dt, K, 1};  // for the blocking query; replaced below
  p.bias_dt = dt;
  p.out = out.data_ptr();
  p.out_dt = dt;
  p.ldo = N;  // GLU: the real width
  p.pre = z.defined() ? z.data_ptr() : nullptr;
  p.pre_dt = dt;
  p.ldp = 2 * N;
  p.alpha = alpha;
  p.compute = dt == DT::F64 ? DT::F64 : DT::F32;
  p.N = N;
  // The register tile's width on the active path (run_gemm asks the same).
  Blocking bl;
  active_kernels()->blocking(&p, bf16_dot_for(active_kernels(), p), l2_bytes(), &bl);
  TORCH_CHECK(bl.nr % 2 == 0, "torch_act: linear_glu needs an even register tile width, got ", bl.nr);
  const int64_t h = bl.nr / 2, panels = (N + h - 1) / h;
  const at::Tensor w = interleave(wg, wu, N, panels, h, wg, K);
  at::Tensor b;
  if (bg.defined() || bu.defined()) b = interleave(bg, bu, N, panels, h, wg, -1);
  p.N = panels * 2 * h;
  p.bt = MatRef{w.const_data_ptr(), dt, w.stride(0), w.stride(1)};
  p.bias = b.defined() ? b.const_data_ptr() : nullptr;
  run_glu_gemm(p, act);
}

void linear_glu_backward_gate(const at::Tensor& g, const at::Tensor& z, const KernelSet& act,
                              double alpha, const at::Tensor& d_gate, const at::Tensor& d_up) {
  const int64_t M = g.size(0), N = g.size(1);
  if (M == 0 || N == 0) return;
  const ActKernels* ak = active_act_kernels(act);
  TORCH_CHECK(ak->glu_dz_rows != nullptr, "torch_act: activation '", act.name,
              "' cannot gate linear_glu (row activation)");
  const DT dt = dt_of(g.scalar_type());
  const MatRef gr{g.const_data_ptr(), dt, g.stride(0), g.stride(1)};
  const void* zp = z.const_data_ptr();
  void* dg = d_gate.data_ptr();
  void* du = d_up.data_ptr();
  // rows of at least ~16K elements per task: a memory-bound pass
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / N), [&](int64_t m0, int64_t m1) {
    ak->glu_dz_rows(&gr, zp, dt, 2 * N, m0, m1, N, alpha, dg, du, dt, N);
  });
}

}  // namespace cpu
}  // namespace torch_act
