// torch_act — the CUDA forward of linear_glu as ONE GEMM:
//   out = act(x . wg^T + bg) * (x . wu^T + bu),  z = [z_gate | z_up] (optional)
// The GEMM configuration is chosen first (as linear.cu's gemm_act would:
// tensor cores for fp16 / bf16 / fp32-as-TF32, with 128- or 64-wide block
// tiles; CUDA cores, 64-wide tiles, for fp32 without TF32 and fp64); then both
// weights are copied into ONE interleaved B [2 Np, K] for that tile width BN
// (h = BN/2, Np = N rounded up to h): rows P*BN .. P*BN+h-1 are gate rows
// P*h .. P*h+h-1, the next h rows the up rows P*h .. P*h+h-1 (rows >= N are
// zeros).  Block tile column P of the GEMM therefore holds the gate and the up
// products of output columns P*h .. P*h+h-1, and the epilogue (epilogue.cuh:
// epilogue_glu) reads z_gate from stage[r][j] and z_up from stage[r][h + j],
// adds both biases, optionally stores z, and writes act(z_gate) * z_up once:
// no [M, 2N] intermediate unless z is wanted, one launch for both products.
// The interleave is ATen copies on the current stream (rows padded to a
// multiple of 8 elements, so the tensor-core loader reads the buffer without
// a repack); the mainloops are gemm_tc.cuh's and gemm_simt.cu's.
// A plugin's activation has no case in the epilogue (device code does not
// link across libraries): it takes the composition instead (one identity
// GEMM over cat(wg, wu) into z, the plugin's elementwise kernel, a multiply).
// Speed: that of the GEMM over 2N columns (gemm_tc.cuh, gemm_simt.cu), plus
// the interleave, which reads and writes both weights once per call
// (bandwidth bound; it matters at small M, like the cat it replaces).
// Never run on a GPU yet (written and compiled without one).

#include <ATen/Context.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>

#include "common.cuh"
#include "gemm.cuh"
#include "internal.h"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {
namespace {

// wg, wu [n, K] (any strides) -> [panels * 2h, K] with a row stride of K
// rounded up to 8 elements: panel P holds wg rows P*h .. P*h+h-1, then wu rows
// P*h .. P*h+h-1; rows past n are zeros.  One copy per weight (plus one for a
// ragged last panel), all on the current stream.
at::Tensor interleave_weights(const at::Tensor& wg, const at::Tensor& wu, int64_t n, int64_t h) {
  const int64_t k = wg.size(1), panels = cdiv(n, h), ldk = round_up(k, 8);
  const at::Tensor buf = at::empty({panels, 2, h, ldk}, wg.options());
  const at::Tensor w = buf.narrow(3, 0, k);        // [panels, 2, h, k]
  const int64_t full = n / h, rem = n - full * h;  // whole panels, rows of the last one
  const at::Tensor* src[2] = {&wg, &wu};
  for (int s = 0; s < 2; ++s) {
    const at::Tensor half = w.select(1, s);  // [panels, h, k]
    if (full > 0)
      half.narrow(0, 0, full).copy_(src[s]->narrow(0, 0, full * h).reshape({full, h, k}));
    if (rem > 0) {
      const at::Tensor last = half.select(0, full);  // [h, k]
      last.narrow(0, 0, rem).copy_(src[s]->narrow(0, full * h, rem));
      last.narrow(0, rem, h - rem).zero_();
    }
  }
  return buf.view({panels * 2 * h, ldk}).narrow(1, 0, k);
}

// A plugin's gate: z = x . cat(wg, wu)^T + cat(bg, bu) (identity GEMM), then
// out = act(z_gate) (the plugin's kernel), out *= z_up.
void composite_glu(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                   const at::Tensor& bg, const at::Tensor& bu, const ActKernels& ak, double alpha,
                   const at::Tensor& out, const at::Tensor& z) {
  const int64_t M = x.size(0), N = wg.size(0);
  const at::Tensor w = at::cat({wg, wu}, 0);
  at::Tensor b;
  if (bg.defined() || bu.defined())
    b = at::cat({bg.defined() ? bg : at::zeros({N}, x.options()),
                 bu.defined() ? bu : at::zeros({N}, x.options())});
  const at::Tensor zz = z.defined() ? z : at::empty({M, 2 * N}, x.options());
  gemm_act(x, w, zz, b, at::Tensor(), nullptr, 0.0);
  ak.forward(zz.narrow(1, 0, N).contiguous(), out, alpha);
  out.mul_(zz.narrow(1, N, N));
}

}  // namespace

void linear_glu_forward(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                        const at::Tensor& bg, const at::Tensor& bu, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& z) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t M = x.size(0), K = x.size(1), N = wg.size(0);
  if (M == 0 || N == 0) return;
  TORCH_CHECK(K > 0, "torch_act: linear_glu_forward needs K > 0");
  TORCH_CHECK(act.rowwise == Rowwise::None, "torch_act: linear_glu needs an elementwise gate, got '",
              act.name, "'");
  TORCH_CHECK(act.cuda != nullptr, "torch_act: activation '", act.name,
              "' has no CUDA kernels (its plugin was built without CUDA)");
  const ActKernels& ak = *act.cuda;
  if (ak.epilogue < 0) {  // a plugin's activation: not in the epilogue's list
    composite_glu(x, wg, wu, bg, bu, ak, alpha, out, z);
    return;
  }

  // The configuration first (gemm_act's choice), since the interleave follows its tile width.
  const auto st = x.scalar_type();
  const bool tensor_cores = cc_major() >= 8;
  bool tc = false;
  switch (st) {
    case at::kHalf:
    case at::kBFloat16:
      TORCH_CHECK(tensor_cores, "torch_act: float16/bfloat16 linear_glu needs a GPU of compute "
                                "capability 8.0 or newer (mma.sync, cp.async)");
      tc = true;
      break;
    case at::kFloat:
      // TF32 follows torch.backends.cuda.matmul.allow_tf32, as torch's own matmuls do.
      tc = tensor_cores && at::globalContext().allowTF32CuBLAS();
      break;
    case at::kDouble:
      tc = false;
      break;
    default:
      TORCH_CHECK(false, "torch_act: unsupported dtype ", st);
  }
  // The GEMM is [M, ~2N]; with tensor cores the same heuristic (and
  // TORCH_ACT_CUDA_TILE override) as linear_act picks 128- or 64-wide tiles.
  const int bn = !tc ? kSimtBN : tc_big_tiles(M, 2 * N) ? kTcBigBN : kTcSmallBN;
  const at::Tensor wi = interleave_weights(wg, wu, N, bn / 2);

  GluParams glu;
  glu.n = N;
  glu.bias_up = bu.defined() ? bu.const_data_ptr() : nullptr;
  glu.bn = bn;
  const int epi = ak.epilogue;
  const Rowwise none = Rowwise::None;
  switch (st) {
    case at::kHalf:
      tc_gemm<c10::Half>(x, wi, out, bg, z, epi, none, alpha, &glu);
      break;
    case at::kBFloat16:
      tc_gemm<c10::BFloat16>(x, wi, out, bg, z, epi, none, alpha, &glu);
      break;
    case at::kFloat:
      if (tc)
        tc_gemm<float>(x, wi, out, bg, z, epi, none, alpha, &glu);
      else
        simt_gemm<float>(x, wi, out, bg, z, epi, none, alpha, &glu);
      break;
    default:  // kDouble
      simt_gemm<double>(x, wi, out, bg, z, epi, none, alpha, &glu);
      break;
  }
}

}  // namespace cuda
}  // namespace torch_act
