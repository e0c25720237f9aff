// torch_act — instantiates the tensor-core GEMM of gemm_tc.cuh for c10::Half
// (one file per dtype so the two build jobs compile them in parallel).
#include "gemm_tc.cuh"

namespace torch_act {
namespace cuda {
template bool tc_gemm<c10::Half>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, const at::Tensor&, Act, double);
}  // namespace cuda
}  // namespace torch_act
