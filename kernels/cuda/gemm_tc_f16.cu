// torch_act — the tensor-core GEMM of gemm_tc.cuh instantiated for :Half:float16
// (c10): C = act(A . B^T + bias) with fp32 accumulation; 128x128 (8 warps) or
// 64x64 (4 warps) block tiles, a 3-4 stage cp.async pipeline, 4 operand layout
// pairs.  Speed: mma.sync tensor-core throughput on big problems, operand
// bandwidth at small M.  One file per dtype so the build jobs run in parallel.
#include "gemm_tc.cuh"

namespace torch_act {
namespace cuda {
template bool tc_gemm<c10::Half>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, const at::Tensor&, int, Rowwise, double,
                           const GluParams*);
}  // namespace cuda
}  // namespace torch_act
