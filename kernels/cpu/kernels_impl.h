// torch_act — the CPU kernels, written once for any SIMD type.  NOT a
// standalone header: a translation unit first includes one ISA prelude
// (isa_<isa>.h: its target, its simd_*.h, TA_ISA = its namespace), then this
// file; the library's kernels_<isa>.cpp then add isa_table.h (the KernelTable
// and the built-ins' ActKernels), a plugin's generated TUs instantiate
// kActKernels<TheirFunctor>.  Everything lands in torch_act::cpu::TA_ISA::
// (anonymous namespace: internal linkage), so the per-ISA copies can never be
// merged by the linker.  The parts, one concern each, are impl_*.h below.
//
// What is here (threads and workspaces belong to the driver, linear_act.cpp):
//  * packing: A [M,K] once per call into mr-row panels, K-block-major
//    ([kc][mr] per panel; bf16 pairs [kc/2][mr][2]; AMX row-major [mr][kc+pad]);
//    B^T [N,K] per task into an L2-resident kc x nc slice of nr-column panels.
//    Any strides and dtypes, converted to the compute type: k-contiguous
//    sources through W x W register transposes, row-contiguous ones k-outer
//    with vector copies (+ software prefetch), the rest scalar.
//  * register-blocked microkernels: an MR x (NV*W) C tile in vector registers
//    over one K block (broadcast A, vector B; FMA, or vdpbf16ps on bf16
//    pairs); on the last K block the epilogue adds the bias, stores the
//    optional pre-activation, applies the activation functor to the SIMD
//    vectors and stores once (bf16/fp16 rounding included).  AMX: a 32 x 32
//    tile block in tmm0-3, spilled once and finished by the same epilogue.
//  * gemm_task: one mc x nc block of C; per K block pack the B slice, then for
//    each A micro-panel (kept in L1) sweep the B panels (streamed from L2);
//    partial sums between K blocks in `out` or an fp32 scratch.
//    K blocks are long (up to 8 KiB / element): the C tile stays in registers
//    for all of K and A / B stream from L2 with software prefetch.
//    Speed (fp32, Sapphire Rapids, one core): ~84-87% of the 2 x 16-lane FMA
//    peak for 2048^3 / 512x3072x768; limits are L2->L1 traffic, the packing
//    passes (memory bandwidth) and, for small K, the epilogue.
//  * the direct path for small shapes (no A packing, w^T in a small buffer),
//    elementwise activations, softmax rows, and the fused backward pass
//    through the activation (dz) with the bias-gradient column sums.

#ifndef TA_ISA
#error "kernels_impl.h is included by an ISA TU after defining TA_ISA"
#endif
#ifndef TA_L2_BYTES
#define TA_L2_BYTES (2048 * 1024)
#endif
#ifndef TA_PF_B
#define TA_PF_B 8
#endif
#ifndef TA_PF_A
#define TA_PF_A 16
#endif
#ifndef TA_AMX_KC
#define TA_AMX_KC 2048
#endif

namespace torch_act {
namespace cpu {
namespace TA_ISA {
namespace {

#include "impl_helpers.h"
#include "impl_pack.h"
#include "impl_epilogue.h"
#include "impl_micro.h"
#include "impl_gemm.h"
#include "impl_direct.h"
#include "impl_rows.h"
#include "impl_small_bwd.h"
#include "impl_bench.h"

// ------------------------------------------------- per-activation kernels
// Row activations run the identity's GEMM / forward (the driver normalises
// the rows); their backward kernels are their own.
template <class Op>
using FwdOp = std::conditional_t<Op::kRowwise == Rowwise::None, Op, acts::Identity>;

// linear_glu's GEMM task (impl_epilogue.h: Glu): elementwise gates only.
template <class Op>
constexpr auto glu_gemm_task_of() {
  if constexpr (Op::kRowwise == Rowwise::None)
    return &gemm_task_fn<Glu<Op>>;
  else
    return decltype(&gemm_task_fn<Op>)(nullptr);
}

// save="mask": bit packing for functors with a two-valued derivative.
template <class Op>
constexpr auto mask_rows_of() {
  if constexpr (Op::kMask && Op::kRowwise == Rowwise::None)
    return &mask_rows_fn<Op>;
  else
    return decltype(&mask_rows_fn<acts::Relu>)(nullptr);
}

// The activation-dependent kernels of this ISA path for functor Op.
template <class Op>
constexpr ActKernels kActKernels = {
    gemm_task_fn<FwdOp<Op>>, direct_rows_fn<FwdOp<Op>>, act_forward_fn<FwdOp<Op>>,
    dz_rows_fn<Op>,          small_bwd_rows_fn<Op>,     glu_gemm_task_of<Op>(),
    glu_dz_rows_of<Op>(),    deriv_of<Op>(),            mask_rows_of<Op>(),
};

}  // namespace
}  // namespace TA_ISA
}  // namespace cpu
}  // namespace torch_act
