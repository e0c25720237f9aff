// torch_act/activation.h — define your own activation for torch_act's fused ops.
//
// Write the activation as a functor (the built-ins in
// <torch_act/kernels/activations.h> are examples):
//
//   #include <torch_act/activation.h>
//   namespace my {
//   using namespace torch_act::act_math;        // t_exp, t_tanh, where, ...
//   struct Swish : torch_act::ActivationBase {    // z * sigmoid(a z)
//     static constexpr const char* kName = "swish";
//     static constexpr const char* kFormula = "z * sigmoid(a*z)";
//     static constexpr const char* kReference = "z * torch.sigmoid(a * z)";  // optional
//     static constexpr bool kHasAlpha = true;
//     static constexpr double kDefaultAlpha = 1.0;
//     static constexpr torch_act::Saves kSaves = torch_act::Saves::Input;   // backward gets z
//     template <class T> TA_HD static T forward(T z, T a) { return z * t_sigmoid(a * z); }
//     template <class T> TA_HD static T backward(T g, T z, T a) {
//       const T s = t_sigmoid(a * z);
//       return g * (s + a * z * s * (T(1) - s));
//     }
//   };
//   }  // namespace my
//
// T is float, double or a SIMD vector: use arithmetic, comparisons,
// where(mask, a, b) and the t_* functions (exp, expm1, log, log1p, tanh, erf,
// abs, sin, cos, sqrt, sigmoid), never `?:` or `if` on T.
//
// Then build a plugin library from it: CMake `torch_act_add_activation(...)`
// (find_package(TorchAct)), or Python `torch_act.plugin.build(...)`; both
// compile the functor into every CPU ISA path (and CUDA when asked) and
// register it when the library loads (docs/custom_activations.md).  Loaded,
// the name works in every op: torch_act::linear_act(x, w, b, "swish").
#pragma once

#include "kernels/activations.h"
#include "registry.h"
