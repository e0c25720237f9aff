// torch_act — linear_act forward / backward on CUDA: GEMM dispatch (kernels in
// gemm_tc*.cu, gemm_simt.cu) with the bias + activation epilogue, and the
// backward: the activation's fused "dz + bias-gradient" kernel
// (act_kernels.cuh, through its ActKernels table), then dX = dZ . W and
// dW = dZ^T . X on the GEMM kernels with transposed operand views.  Speed:
// dact_bias is bandwidth bound (reads g and s, writes dz once); the backward
// as a whole is GEMM bound.

#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include "common.cuh"
#include "gemm.cuh"
#include "internal.h"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {

// GEMM dispatch: tensor cores for fp16 / bf16 / fp32-as-TF32, CUDA cores for
// fp32 without TF32 and fp64; row activations that did not fit the epilogue
// are normalised afterwards, and a plugin's activation (no epilogue index)
// runs over the output z afterwards.
void gemm_act(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
              const at::Tensor& bias, const at::Tensor& preact, const KernelSet* act,
              double alpha) {
  const int64_t M = a.size(0), N = b.size(0);
  if (M == 0 || N == 0) return;
  const Rowwise rowwise = act ? act->rowwise : Rowwise::None;
  const ActKernels* ak = act ? act->cuda : nullptr;
  TORCH_CHECK(act == nullptr || ak != nullptr, "torch_act: activation '", act->name,
              "' has no CUDA kernels (its plugin was built without CUDA)");
  const int epi = ak == nullptr ? 0 : ak->epilogue >= 0 ? ak->epilogue : 0;
  const auto st = a.scalar_type();
  const bool tensor_cores = cc_major() >= 8;
  bool fused = false;
  switch (st) {
    case at::kHalf:
    case at::kBFloat16:
      TORCH_CHECK(tensor_cores, "torch_act: float16/bfloat16 linear_act needs a GPU of compute "
                                "capability 8.0 or newer (mma.sync, cp.async)");
      fused = st == at::kHalf
                  ? tc_gemm<c10::Half>(a, b, c, bias, preact, epi, rowwise, alpha, nullptr)
                  : tc_gemm<c10::BFloat16>(a, b, c, bias, preact, epi, rowwise, alpha, nullptr);
      break;
    case at::kFloat:
      // TF32 follows torch.backends.cuda.matmul.allow_tf32, as torch's own matmuls do.
      fused = tensor_cores && at::globalContext().allowTF32CuBLAS()
                  ? tc_gemm<float>(a, b, c, bias, preact, epi, rowwise, alpha, nullptr)
                  : simt_gemm<float>(a, b, c, bias, preact, epi, rowwise, alpha, nullptr);
      break;
    case at::kDouble:
      fused = simt_gemm<double>(a, b, c, bias, preact, epi, rowwise, alpha, nullptr);
      break;
    default:
      TORCH_CHECK(false, "torch_act: unsupported dtype ", st);
  }
  if (rowwise != Rowwise::None && !fused) softmax_forward(c, c, rowwise == Rowwise::LogSoftmax);
  if (ak != nullptr && ak->epilogue < 0) ak->forward(c, c, alpha);  // c holds z (preact too)
}

void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                        const KernelSet& act, double alpha, const at::Tensor& out,
                        const at::Tensor& preact) {
  const c10::cuda::CUDAGuard guard(x.device());
  gemm_act(x, w, out, b, preact, &act, alpha);
}

void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, const KernelSet& act, double alpha,
                         const at::Tensor& dx, const at::Tensor& dw, const at::Tensor& db) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t M = x.size(0), N = w.size(0);
  if (M == 0 || N == 0) {  // empty sums
    if (dx.defined()) dx.zero_();
    if (dw.defined()) dw.zero_();
    if (db.defined()) db.zero_();
    return;
  }
  const bool want_dz = dx.defined() || dw.defined();
  if (!want_dz && !db.defined()) return;
  const bool rowwise = act.rowwise != Rowwise::None;
  const ActKernels& identity = builtin_kernels(0);

  at::Tensor dz;  // [M, N] operand of the two GEMMs
  if (act.identity) {
    dz = g;  // dz == g: used as is, whatever its strides
    if (db.defined()) identity.dact_bias(g, at::Tensor(), at::Tensor(), db, alpha);
  } else {
    if (want_dz || rowwise) {
      // rows padded to 16 bytes so both GEMMs can read dz (and dz^T) without a repack
      const int64_t ld = round_up(N, 8);
      dz = at::empty({M, ld}, g.options()).narrow(1, 0, N);
    }
    if (rowwise) {
      softmax_backward(g.contiguous(), s, dz, act.rowwise == Rowwise::LogSoftmax);
      if (db.defined()) identity.dact_bias(dz, at::Tensor(), at::Tensor(), db, alpha);
    } else {
      TORCH_CHECK(act.cuda != nullptr, "torch_act: activation '", act.name,
                  "' has no CUDA kernels (its plugin was built without CUDA)");
      act.cuda->dact_bias(g, s, dz, db, alpha);
    }
  }
  if (dx.defined()) gemm_act(dz, w.t(), dx, at::Tensor(), at::Tensor(), nullptr, 0.0);
  if (dw.defined()) gemm_act(dz.t(), x.t(), dw, at::Tensor(), at::Tensor(), nullptr, 0.0);
}

}  // namespace cuda
}  // namespace torch_act
