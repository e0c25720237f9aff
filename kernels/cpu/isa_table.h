// torch_act — the library's KernelTable for one ISA path: the kernels that do
// not depend on the activation, plus the built-ins' ActKernels instantiated
// from TORCH_ACT_BUILTIN_ACTIVATIONS.  Included last by each kernels_<isa>.cpp
// (after its prelude and kernels_impl.h); plugins do not include it.
#pragma once

namespace torch_act {
namespace cpu {
namespace TA_ISA {
namespace {

#define TA_BUILTIN_ENTRY(F) &kActKernels<acts::F>,
const ActKernels* const kBuiltins[] = {TORCH_ACT_BUILTIN_ACTIVATIONS(TA_BUILTIN_ENTRY)};
#undef TA_BUILTIN_ENTRY
static_assert(sizeof(kBuiltins) / sizeof(kBuiltins[0]) == kNumBuiltinActivations,
              "one ActKernels per built-in");

const KernelTable kTable = {
    TA_ISA_NAME,        TA_ISA_SLOT,     blocking_fn, pack_a_fn, direct_ws_bytes_fn,
    direct_prep_fn,     softmax_rows_fn, mask_grad_rows_fn, micro_bench_fn, kBuiltins,
};

}  // namespace
}  // namespace TA_ISA

const KernelTable* TA_TABLE_FN() { return &TA_ISA::kTable; }

}  // namespace cpu
}  // namespace torch_act
