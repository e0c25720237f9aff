// Swish-beta, z * sigmoid(beta z) (Ramachandran et al. 2017): a user's own
// activation for torch_act, one functor (see <torch_act/activation.h>).
#pragma once

#include <torch_act/activation.h>

namespace example {
using namespace torch_act::act_math;  // t_exp, t_sigmoid, where, ... for float / double

struct Swish : torch_act::ActivationBase {
  static constexpr const char* kName = "swish";
  static constexpr const char* kFormula = "z * sigmoid(a*z)";
  static constexpr const char* kReference = "z * torch.sigmoid(a * z)";
  static constexpr bool kHasAlpha = true;  // a = beta
  static constexpr double kDefaultAlpha = 1.0;
  static constexpr torch_act::Saves kSaves = torch_act::Saves::Input;  // backward reads z

  template <class T> TA_HD static T forward(T z, T a) { return z * t_sigmoid(a * z); }
  template <class T> TA_HD static T backward(T g, T z, T a) {
    const T s = t_sigmoid(a * z);
    return g * (s + a * z * s * (T(1) - s));
  }
};

}  // namespace example
