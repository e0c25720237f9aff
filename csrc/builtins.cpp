// torch_act — registers the built-in activations (kernels/activations.h:
// TORCH_ACT_BUILTIN_ACTIVATIONS) at library load, through the same
// register_activation a user's plugin calls: each functor's metadata with the
// kernel tables the CPU ISA paths and CUDA instantiated for it.
#include <type_traits>

#include "kernels/cpu/cpu_ops.h"
#include "registry.h"
#ifdef TORCH_ACT_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace torch_act {
namespace {

template <class Op>
void register_builtin(int index) {
  Activation a = activation_of<Op>(/*builtin=*/true, "built-in");
  for (int s = 0; s < kNumCpuIsas; ++s) a.kernels.cpu[s] = cpu::builtin_kernels(CpuIsa(s), index);
#ifdef TORCH_ACT_WITH_CUDA
  a.kernels.cuda = &cuda::builtin_kernels(index);
#endif
  a.kernels.identity = std::is_same<Op, acts::Identity>::value;
  register_activation(a);
}

template <class... Ts>
void register_all(TypeList<Ts...>) {
  int i = 0;
  (
      [&] {
        if constexpr (!std::is_void<Ts>::value) register_builtin<Ts>(i++);
      }(),
      ...);
}

const bool kRegistered = (register_all(BuiltinActivations{}), true);

}  // namespace
}  // namespace torch_act
