// torch_act — the built-in activations' CUDA kernel tables: act_kernels.cuh
// instantiated for every functor of TORCH_ACT_BUILTIN_ACTIVATIONS, each with
// its index in that list as the GEMM epilogue's choice (epilogue.cuh).
#include <vector>

#include "act_kernels.cuh"

namespace torch_act {
namespace cuda {
namespace {

template <class... Ts>
std::vector<ActKernels> make_all(TypeList<Ts...>) {
  std::vector<ActKernels> v;
  int i = 0;
  (
      [&] {
        if constexpr (!std::is_void<Ts>::value) {
          v.push_back(make_act_kernels<Ts>(i));
          ++i;
        }
      }(),
      ...);
  return v;
}

}  // namespace

const ActKernels& builtin_kernels(int index) {
  static const std::vector<ActKernels> all = make_all(BuiltinActivations{});
  TORCH_CHECK(index >= 0 && index < static_cast<int>(all.size()), "torch_act: built-in index ",
              index, " out of range");
  return all[index];
}

}  // namespace cuda
}  // namespace torch_act
