// torch_act — fused linear + cross-entropy that never materialises the logits:
//   loss = cross_entropy(input @ linear_weight.T + linear_bias, target,
//                        weight, reduction, ignore_index, label_smoothing)
// with torch's definition of every option (docs/cross_entropy.md).
//
// Device-independent glue over a backend's kernel set K (as OpImpls<K> in
// ops.h): the logits of one block of token rows, over the whole vocabulary,
// are computed by OUR GEMM (K::linear_act_forward with the identity's
// kernels) into a scratch block whose size comes from a byte budget; each
// row's log-sum-exp is then exact (the block spans every class), so the loss
// and, when gradients are wanted, dlogits = coef * softmax - (target and
// smoothing terms) are formed in place, in sub-blocks small enough to stay in
// cache (ATen ops, in float32 for 16-bit inputs; on the CPU the sub-blocks of
// a block are shared out over the threads by one at::parallel_for).  From dlogits, our backward
// kernel (K::linear_act_backward, identity) gives d_input rows (dx = g . W)
// and, for the first token block, d_weight (dw = g^T . x); later blocks add
// theirs with at::addmm_ (beta = 1: our kernel set has no accumulating GEMM,
// and our GEMM into vocabulary-chunk temporaries plus an add pass measured
// slower, docs/cross_entropy.md); d_bias accumulates the column sums in the
// compute precision.  Extra memory: the logits block, one cache-sized
// sub-block per thread, vectors of length tokens, and the GEMMs' packing
// workspaces (the CPU GEMM packs its whole A operand: dz, the block's size)
// — never tokens x vocab.
//
// For reduction mean/sum the autograd computes the gradients during the
// forward (one pass over the logits, no second GEMM pass) and the backward
// only scales them by grad_output; reduction="none" (a gradient per row)
// recomputes the logits in the backward (the same operations on the same
// blocks: the same bits as the forward's would be).
//
// Every reduction has a fixed order (blocks in order, the kernels'
// deterministic GEMMs, ATen's reductions and addmm_ for the same shapes), so
// results do not change from run to run.  Registration: register_cross_entropy<K>(m) inside the backend's
// TORCH_LIBRARY_IMPL (csrc/cpu_register.cpp, csrc/cuda_register.cpp);
// schemas, checks and autograd live in csrc/cross_entropy.cpp.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>

#include "registry.h"

namespace torch_act {

enum class CeReduction : int { None = 0, Mean = 1, Sum = 2 };

// The checked, normalised arguments of one call.
struct CeArgs {
  at::Tensor x;        // [M, K] (the input, 1-D input as one row)
  at::Tensor w;        // [V, K]
  at::Tensor bias;     // [V] contiguous, or undefined
  at::Tensor cw;       // class weights [V] in the compute dtype, or undefined
  at::Tensor target;   // [M] int64
  CeReduction reduction = CeReduction::Mean;
  int64_t ignore_index = -100;
  double eps = 0.0;    // label smoothing (negative values act as 0, as in torch)
  int64_t M = 0, K = 0, V = 0;
  at::ScalarType cdt = at::kFloat;  // compute dtype: float64 for float64, else float32
  std::vector<int64_t> loss_shape;  // reduction none: target's shape; else {}
};

// Checks every argument (clear errors naming it), validates the target range
// (IndexError naming the bad class index; an asynchronous device assert on
// CUDA) and returns them normalised.
CeArgs check_ce_args(const char* op, const at::Tensor& input, const at::Tensor& linear_weight,
                     const at::Tensor& target, const std::optional<at::Tensor>& linear_bias,
                     const std::optional<at::Tensor>& weight, c10::string_view reduction,
                     int64_t ignore_index, double label_smoothing, bool check_range = true);

// Block sizes from the byte budget (TORCH_ACT_LCE_BLOCK_BYTES, default 32 MiB).
struct CeBlocking {
  int64_t rows;      // token rows per logits block
  int64_t sub_rows;  // rows per cache-resident sub-block of the element-wise work
};
CeBlocking ce_blocking(const CeArgs& a, bool on_cpu);

// The identity activation's kernels (our plain GEMM).
const KernelSet& identity_kernel_set();

// Per-row coefficients of dlogits, [M] in the compute dtype:
//   dz[i, c] = cp[i] * softmax(z)[i, c] - cu[i] * w_c - ct[i] * (c == t_i)
// (w_c = 1 without class weights), for the per-row loss gradient g (0-d or [M]);
// all zero on ignored rows.
struct CeCoef {
  at::Tensor cp, cu, ct;
};

// Everything of a call that does not touch the logits: the valid-row mask,
// the clamped targets, the target class weights and the denominator of mean.
struct CeRows {
  at::Tensor valid;  // [M] bool
  at::Tensor tc;     // [M] int64: target, 0 on ignored rows
  at::Tensor wt;     // [M] compute dtype: weight[t] (1 without weights), 0 on ignored rows
  at::Tensor den;    // 0-d: sum of wt (mean's denominator)
  at::Tensor wsum;   // 0-d: sum of the class weights (V without)
};
CeRows ce_rows(const CeArgs& a);
CeCoef ce_coef(const CeArgs& a, const CeRows& r, const at::Tensor& grad_row);
// The reduced (or per-row) loss from the per-row lse, z[t], sum_c w_c z_c.
at::Tensor ce_loss(const CeArgs& a, const CeRows& r, const at::Tensor& lse, const at::Tensor& zt,
                   const at::Tensor& zw);

template <class K>
struct CrossEntropyImpls {
  // One sweep over the token blocks: fills lse / zt / zw (each [M] or
  // undefined) and, from the coefficients `coef` (null: no gradient), writes
  // dx rows, dw and db (db in the compute dtype) when defined.  A backward
  // recompute runs the very same operations on the same blocks, so its
  // gradients equal the forward's bit for bit.
  static void sweep(const CeArgs& a, const CeRows& r, const CeCoef* coef, const at::Tensor& lse,
                    const at::Tensor& zt, const at::Tensor& zw, const at::Tensor& dx,
                    const at::Tensor& dw, const at::Tensor& db) {
    const bool grads = coef != nullptr && (dx.defined() || dw.defined() || db.defined());
    const bool on_cpu = a.x.is_cpu();
    const CeBlocking bl = ce_blocking(a, on_cpu);
    const KernelSet& ident = identity_kernel_set();
    const bool smoothing = a.eps > 0.0;
    at::Tensor zbuf = at::empty({std::min(bl.rows, a.M), a.V}, a.x.options());
    bool first = true;
    for (int64_t m0 = 0; m0 < a.M; m0 += bl.rows) {
      const int64_t mb = std::min(bl.rows, a.M - m0);
      const at::Tensor xb = a.x.narrow(0, m0, mb);
      const at::Tensor z = zbuf.narrow(0, 0, mb);
      K::linear_act_forward(xb, a.w, a.bias, ident, 0.0, z, at::Tensor());
      // The element-wise work, sub-block by sub-block; on the CPU the
      // sub-blocks are shared out over the threads (each runs its ATen ops
      // single-threaded on a cache-resident piece: one parallel region per
      // block instead of one per op and sub-block).  d_bias: one partial sum
      // per sub-block, reduced in order.
      const int64_t nsub = (mb + bl.sub_rows - 1) / bl.sub_rows;
      const at::Tensor dbp = grads && db.defined() ? at::empty({nsub, a.V}, db.options()) : at::Tensor();
      const at::ThreadLocalState tls;  // inference mode, dispatch keys: the same on the workers
      const auto sub_blocks = [&](int64_t i0, int64_t i1) {
        at::ThreadLocalStateGuard tls_guard(tls);
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t s0 = i * bl.sub_rows, sb = std::min(bl.sub_rows, mb - s0);
          const int64_t g0 = m0 + s0;  // global row of the sub-block
          const at::Tensor zs = z.narrow(0, s0, sb);
          at::Tensor zc = zs.scalar_type() == a.cdt ? zs : zs.to(a.cdt);
          const at::Tensor tcs = r.tc.narrow(0, g0, sb).unsqueeze(1);
          if (zt.defined()) zt.narrow(0, g0, sb).copy_(zc.gather(1, tcs).squeeze(1));
          if (zw.defined()) {
            at::Tensor out = zw.narrow(0, g0, sb);
            if (a.cw.defined())
              at::mv_out(out, zc, a.cw);
            else
              at::sum_out(out, zc, at::IntArrayRef{1});
          }
          // exact log-sum-exp of each row (the block spans every class): max, exp in place, sum
          const at::Tensor mx = at::amax(zc, {1}, /*keepdim=*/true);
          zc.sub_(mx).exp_();
          const at::Tensor s = zc.sum(at::IntArrayRef{1}, /*keepdim=*/true);
          if (lse.defined()) lse.narrow(0, g0, sb).copy_((mx + s.log()).squeeze(1));
          if (!grads) continue;
          zc.mul_(coef->cp.narrow(0, g0, sb).unsqueeze(1) / s);  // cp * softmax
          if (smoothing) {
            const at::Tensor cu = coef->cu.narrow(0, g0, sb);
            if (a.cw.defined())
              zc.addr_(cu, a.cw, /*beta=*/1, /*alpha=*/-1);
            else
              zc.sub_(cu.unsqueeze(1));
          }
          zc.scatter_add_(1, tcs, coef->ct.narrow(0, g0, sb).neg().unsqueeze(1));
          if (dbp.defined()) {
            at::Tensor part = dbp.select(0, i);
            at::sum_out(part, zc, at::IntArrayRef{0});
          }
          if (!zc.is_same(zs)) zs.copy_(zc);
        }
      };
      if (on_cpu && nsub > 1)
        at::parallel_for(0, nsub, 1, sub_blocks);
      else
        sub_blocks(0, nsub);
      if (dbp.defined()) db.add_(dbp.sum(at::IntArrayRef{0}));
      if (!grads) continue;
      if (dx.defined())  // dx rows = dz . W
        K::linear_act_backward(z, xb, a.w, at::Tensor(), ident, 0.0, dx.narrow(0, m0, mb),
                               at::Tensor(), at::Tensor());
      if (dw.defined()) {  // dw = dz^T . x on the first block, then dw += dz^T . x
        if (first)
          K::linear_act_backward(z, xb, a.w, at::Tensor(), ident, 0.0, at::Tensor(), dw, at::Tensor());
        else
          dw.addmm_(z.t(), xb);
      }
      first = false;
    }
    if (dw.defined() && first) dw.zero_();  // no token rows: the gradient is zero
  }

  // (loss, dinput, dweight, dbias): the loss and the gradients in output_mask
  // for a loss gradient of 1 (reduction mean/sum; none never computes them here).
  static std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward(
      const at::Tensor& input, const at::Tensor& linear_weight, const at::Tensor& target,
      const std::optional<at::Tensor>& linear_bias, const std::optional<at::Tensor>& weight,
      c10::string_view reduction, int64_t ignore_index, double label_smoothing,
      std::array<bool, 3> mask) {
    const CeArgs a = check_ce_args("linear_cross_entropy", input, linear_weight, target, linear_bias,
                                   weight, reduction, ignore_index, label_smoothing);
    const auto copts = a.x.options().dtype(a.cdt);
    const bool want = a.reduction != CeReduction::None;
    const bool mdx = want && mask[0], mdw = want && mask[1], mdb = want && mask[2] && a.bias.defined();
    const CeRows r = ce_rows(a);
    at::Tensor lse = at::empty({a.M}, copts), zt = at::empty({a.M}, copts);
    at::Tensor zw = a.eps > 0.0 ? at::empty({a.M}, copts) : at::Tensor();
    at::Tensor dx = mdx ? at::empty({a.M, a.K}, a.x.options()) : at::Tensor();
    at::Tensor dw = mdw ? at::empty({a.V, a.K}, a.x.options()) : at::Tensor();
    at::Tensor db = mdb ? at::zeros({a.V}, copts) : at::Tensor();
    CeCoef coef;
    const bool grads = mdx || mdw || mdb;
    if (grads) {
      const at::Tensor one = at::ones({}, copts);
      coef = ce_coef(a, r, a.reduction == CeReduction::Mean ? one / r.den : one);
    }
    sweep(a, r, grads ? &coef : nullptr, lse, zt, zw, dx, dw, db);
    at::Tensor loss = ce_loss(a, r, lse, zt, zw).to(input.scalar_type());
    const auto empty = [&] { return at::empty({0}, input.options()); };
    return {loss, mdx ? dx.view(input.sizes()) : empty(), mdw ? dw : empty(),
            mdb ? db.to(input.scalar_type()) : empty()};
  }

  static at::Tensor loss_only(const at::Tensor& input, const at::Tensor& linear_weight,
                              const at::Tensor& target, const std::optional<at::Tensor>& linear_bias,
                              const std::optional<at::Tensor>& weight, c10::string_view reduction,
                              int64_t ignore_index, double label_smoothing) {
    return std::get<0>(forward(input, linear_weight, target, linear_bias, weight, reduction,
                               ignore_index, label_smoothing, {false, false, false}));
  }

  // Gradients (dinput, dweight, dbias) in output_mask for the loss gradient
  // grad_loss (0-d for mean/sum, the loss's shape for none), recomputing the
  // logits block by block.
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(
      const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& linear_weight,
      const at::Tensor& target, const std::optional<at::Tensor>& linear_bias,
      const std::optional<at::Tensor>& weight, c10::string_view reduction, int64_t ignore_index,
      double label_smoothing, std::array<bool, 3> mask) {
    const char* op = "_linear_cross_entropy_bwd";
    const CeArgs a = check_ce_args(op, input, linear_weight, target, linear_bias, weight, reduction,
                                   ignore_index, label_smoothing);
    TORCH_CHECK(grad_loss.sizes() == c10::IntArrayRef(a.loss_shape), op,
                ": grad_loss must have the loss's shape ", c10::IntArrayRef(a.loss_shape), ", got ",
                grad_loss.sizes());
    TORCH_CHECK(grad_loss.device() == input.device(), op, ": grad_loss is on ", grad_loss.device(),
                " but input is on ", input.device());
    const bool mdb = mask[2] && a.bias.defined();
    const auto copts = a.x.options().dtype(a.cdt);
    at::Tensor dx = mask[0] ? at::empty({a.M, a.K}, a.x.options()) : at::Tensor();
    at::Tensor dw = mask[1] ? at::empty({a.V, a.K}, a.x.options()) : at::Tensor();
    at::Tensor db = mdb ? at::zeros({a.V}, copts) : at::Tensor();
    if (mask[0] || mask[1] || mdb) {
      const CeRows r = ce_rows(a);
      at::Tensor g = grad_loss.to(a.cdt).reshape(a.reduction == CeReduction::None
                                                     ? c10::IntArrayRef{a.M}
                                                     : c10::IntArrayRef{});
      if (a.reduction == CeReduction::Mean) g = g / r.den;
      const CeCoef coef = ce_coef(a, r, g);
      sweep(a, r, &coef, at::Tensor(), at::Tensor(), at::Tensor(), dx, dw, db);
    }
    const auto empty = [&] { return at::empty({0}, input.options()); };
    return {mask[0] ? dx.view(input.sizes()) : empty(), mask[1] ? dw : empty(),
            mdb ? db.to(input.scalar_type()) : empty()};
  }
};

// Registers the cross-entropy ops' kernels for one backend: inside
// TORCH_LIBRARY_IMPL(torch_act, <Key>, m) call register_cross_entropy<Kernels>(m).
template <class K>
void register_cross_entropy(torch::Library& m) {
  using Impl = CrossEntropyImpls<K>;
  m.impl("linear_cross_entropy", &Impl::loss_only);
  m.impl("_linear_cross_entropy_fwd", &Impl::forward);
  m.impl("_linear_cross_entropy_bwd", &Impl::backward);
}

}  // namespace torch_act
