// torch_act — the activation math, written once.
//
// Every activation's value and derivative lives here as a small functor with
// `forward(z, a)` and `backward(g, s, a)` templated on the number type T.
// T is float or double on the host and on CUDA devices (half/bfloat16 are
// widened to float by the kernels), and a SIMD vector type in the vectorised
// CPU kernels (csrc/cpu/simd.h provides the t_* overloads and operators for
// it).  Functors therefore use only arithmetic operators, comparisons,
// `where(mask, a, b)` and the t_* functions below — never `?:` on T.
//
// `s` in backward is the tensor the op saved: the activation's output y when
// `saves == Saves::Output` (or OutputIfAlphaNonNeg with alpha >= 0), the
// pre-activation z otherwise.  Row activations (softmax, log_softmax) have
// kRowwise = true and no elementwise forward/backward: their kernels work on a
// whole row (see softmax_* helpers at the bottom).
//
// Adding an activation: one functor below, one row in kActTable, one case in
// dispatch_act.  Names, defaults and the save policy reach Python from the
// table (torch_act._C.activations()), so the tests pick it up automatically.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define TA_HD __host__ __device__ __forceinline__
#define TA_HOST_DEVICE __host__ __device__
#else
#define TA_HD inline
#define TA_HOST_DEVICE
#endif

namespace torch_act {

enum class Act : int {
  Identity = 0,
  Relu,
  LeakyRelu,
  Sigmoid,
  Tanh,
  Softmax,
  LogSoftmax,
  Gelu,
  GeluTanh,
  Silu,
  Elu,
  Softplus,
  Mish,
  Hardswish,
  kCount
};

// What the backward needs saved from the forward.
enum class Saves : int {
  Nothing = 0,          // derivative is constant (identity)
  Output = 1,           // derivative written in terms of y = act(z)
  Input = 2,            // derivative needs the pre-activation z
  OutputIfAlphaNonNeg = 3,  // y when alpha >= 0 (sign of y == sign of z), else z
};

struct ActInfo {
  const char* name;
  Act act;
  bool has_alpha;        // the activation takes a parameter
  double default_alpha;  // its default (ignored when !has_alpha)
  Saves saves;
  bool rowwise;          // softmax-like: normalises over the last dim
  const char* formula;   // for docs / plots
};

// The one table: name <-> enum <-> default alpha <-> save policy.
constexpr ActInfo kActTable[] = {
    {"identity", Act::Identity, false, 0.0, Saves::Nothing, false, "z"},
    {"relu", Act::Relu, false, 0.0, Saves::Output, false, "max(0, z)"},
    {"leaky_relu", Act::LeakyRelu, true, 0.01, Saves::OutputIfAlphaNonNeg, false,
     "z if z > 0 else a*z"},
    {"sigmoid", Act::Sigmoid, false, 0.0, Saves::Output, false, "1 / (1 + exp(-z))"},
    {"tanh", Act::Tanh, false, 0.0, Saves::Output, false, "tanh(z)"},
    {"softmax", Act::Softmax, false, 0.0, Saves::Output, true,
     "exp(z_i) / sum_j exp(z_j)"},
    {"log_softmax", Act::LogSoftmax, false, 0.0, Saves::Output, true,
     "z_i - log(sum_j exp(z_j))"},
    {"gelu", Act::Gelu, false, 0.0, Saves::Input, false,
     "z * 0.5 * (1 + erf(z / sqrt(2)))"},
    {"gelu_tanh", Act::GeluTanh, false, 0.0, Saves::Input, false,
     "0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))"},
    {"silu", Act::Silu, false, 0.0, Saves::Input, false, "z * sigmoid(z)"},
    {"elu", Act::Elu, true, 1.0, Saves::Input, false, "z if z > 0 else a*(exp(z) - 1)"},
    {"softplus", Act::Softplus, true, 1.0, Saves::Input, false,
     "log(1 + exp(a*z)) / a  (z if a*z > 20)"},
    {"mish", Act::Mish, false, 0.0, Saves::Input, false, "z * tanh(softplus(z))"},
    {"hardswish", Act::Hardswish, false, 0.0, Saves::Input, false,
     "z * clamp(z + 3, 0, 6) / 6"},
};
constexpr int kNumActs = static_cast<int>(sizeof(kActTable) / sizeof(kActTable[0]));
static_assert(kNumActs == static_cast<int>(Act::kCount), "kActTable must list every Act");

constexpr const ActInfo& act_info(Act a) { return kActTable[static_cast<int>(a)]; }

// Returns false when `name` is unknown.
inline bool act_from_name(const char* name, Act* out) {
  for (const auto& e : kActTable) {
    if (std::strcmp(e.name, name) == 0) {
      *out = e.act;
      return true;
    }
  }
  return false;
}

// Does the backward read the output (true) or the pre-activation (false)?
// (For Saves::Nothing the answer does not matter; we report output.)
constexpr bool backward_uses_output(Act a, double alpha) {
  return act_info(a).saves == Saves::Output || act_info(a).saves == Saves::Nothing ||
         (act_info(a).saves == Saves::OutputIfAlphaNonNeg && alpha >= 0.0);
}

// ---------------------------------------------------------------------------
// Scalar math: overloads for float and double.  SIMD types add their own
// overloads (found by argument-dependent lookup).
namespace act_math {

TA_HD float t_exp(float x) { return expf(x); }
TA_HD double t_exp(double x) { return exp(x); }
TA_HD float t_expm1(float x) { return expm1f(x); }
TA_HD double t_expm1(double x) { return expm1(x); }
TA_HD float t_log1p(float x) { return log1pf(x); }
TA_HD double t_log1p(double x) { return log1p(x); }
TA_HD float t_tanh(float x) { return tanhf(x); }
TA_HD double t_tanh(double x) { return tanh(x); }
TA_HD float t_erf(float x) { return erff(x); }
TA_HD double t_erf(double x) { return erf(x); }
TA_HD float where(bool c, float a, float b) { return c ? a : b; }
TA_HD double where(bool c, double a, double b) { return c ? a : b; }

}  // namespace act_math

namespace acts {
using namespace act_math;

// Each functor: forward(z, a) -> y;  backward(g, s, a) -> dL/dz where g = dL/dy
// and s is y or z according to `saves` above.

struct Identity {
  static constexpr Act kind = Act::Identity;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) { return z; }
  template <class T> TA_HD static T backward(T g, T, T) { return g; }
};

struct Relu {
  static constexpr Act kind = Act::Relu;
  static constexpr bool kRowwise = false;
  // z < 0 -> 0, else z (NaN propagates, as torch.relu)
  template <class T> TA_HD static T forward(T z, T) { return where(z < T(0), T(0), z); }
  // as threshold_backward: y <= 0 -> 0
  template <class T> TA_HD static T backward(T g, T y, T) { return where(y <= T(0), T(0), g); }
};

struct LeakyRelu {
  static constexpr Act kind = Act::LeakyRelu;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T a) { return where(z > T(0), z, z * a); }
  // s is y (a >= 0) or z (a < 0): either way s > 0 <=> z > 0
  template <class T> TA_HD static T backward(T g, T s, T a) { return where(s > T(0), g, g * a); }
};

struct Sigmoid {
  static constexpr Act kind = Act::Sigmoid;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) { return T(1) / (T(1) + t_exp(-z)); }
  template <class T> TA_HD static T backward(T g, T y, T) { return g * y * (T(1) - y); }
};

struct Tanh {
  static constexpr Act kind = Act::Tanh;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) { return t_tanh(z); }
  template <class T> TA_HD static T backward(T g, T y, T) { return g * (T(1) - y * y); }
};

struct Softmax {
  static constexpr Act kind = Act::Softmax;
  static constexpr bool kRowwise = true;
};

struct LogSoftmax {
  static constexpr Act kind = Act::LogSoftmax;
  static constexpr bool kRowwise = true;
};

struct Gelu {
  static constexpr Act kind = Act::Gelu;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) {
    return z * T(0.5) * (T(1) + t_erf(z * T(0.70710678118654752440)));
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T cdf = T(0.5) * (T(1) + t_erf(z * T(0.70710678118654752440)));
    const T pdf = t_exp(T(-0.5) * z * z) * T(0.39894228040143267794);  // 1/sqrt(2 pi)
    return g * (cdf + z * pdf);
  }
};

struct GeluTanh {
  static constexpr Act kind = Act::GeluTanh;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) {
    const T inner = T(0.79788456080286535588) * (z + T(0.044715) * z * z * z);  // sqrt(2/pi)
    return T(0.5) * z * (T(1) + t_tanh(inner));
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T z2 = z * z;
    const T inner = T(0.79788456080286535588) * (z + T(0.044715) * z2 * z);
    const T t = t_tanh(inner);
    const T dinner = T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * z2);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * z * (T(1) - t * t) * dinner);
  }
};

struct Silu {
  static constexpr Act kind = Act::Silu;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) { return z / (T(1) + t_exp(-z)); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T s = T(1) / (T(1) + t_exp(-z));
    return g * s * (T(1) + z * (T(1) - s));
  }
};

struct Elu {
  static constexpr Act kind = Act::Elu;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T a) { return where(z > T(0), z, a * t_expm1(z)); }
  template <class T> TA_HD static T backward(T g, T z, T a) {
    return where(z > T(0), g, g * a * t_exp(z));  // NaN propagates, as torch's
  }
};

// softplus with beta = a and PyTorch's threshold 20: linear where a*z > 20.
struct Softplus {
  static constexpr Act kind = Act::Softplus;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T a) {
    const T az = z * a;
    // clamp the argument of exp in the (discarded) linear branch so SIMD
    // evaluation of both branches stays finite
    return where(az > T(20), z, t_log1p(t_exp(where(az > T(20), T(0), az))) / a);
  }
  template <class T> TA_HD static T backward(T g, T z, T a) {
    const T az = z * a;
    return where(az > T(20), g, g / (T(1) + t_exp(-az)));
  }
};

// mish(z) = z * tanh(log1p(exp(z)))  (as torch.nn.functional.mish)
struct Mish {
  static constexpr Act kind = Act::Mish;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) { return z * t_tanh(t_log1p(t_exp(z))); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T tsp = t_tanh(t_log1p(t_exp(z)));
    const T sig = T(1) / (T(1) + t_exp(-z));
    return g * (tsp + z * sig * (T(1) - tsp * tsp));
  }
};

struct Hardswish {
  static constexpr Act kind = Act::Hardswish;
  static constexpr bool kRowwise = false;
  template <class T> TA_HD static T forward(T z, T) {
    // z * 0 (not 0) below -3: -inf gives NaN and -5 gives -0, as torch's hardswish
    return where(z <= T(-3), z * T(0), where(z >= T(3), z, z * (z + T(3)) * T(1.0 / 6.0)));
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    // as torch's hardswish_backward: 0 at z = -3, g at z = 3, NaN propagates
    return where(z <= T(-3), T(0), where(z >= T(3), g, g * (z * T(1.0 / 3.0) + T(0.5))));
  }
};

}  // namespace acts

// Turns the runtime enum into a compile-time functor type:
//   dispatch_act(act, [&](auto op) { using Op = decltype(op); ... Op::forward(z, a) ... });
// Callers handle row activations with `if constexpr (Op::kRowwise)`.
template <class F>
TA_HOST_DEVICE inline decltype(auto) dispatch_act(Act act, F&& f) {
  switch (act) {
    case Act::Relu: return f(acts::Relu{});
    case Act::LeakyRelu: return f(acts::LeakyRelu{});
    case Act::Sigmoid: return f(acts::Sigmoid{});
    case Act::Tanh: return f(acts::Tanh{});
    case Act::Softmax: return f(acts::Softmax{});
    case Act::LogSoftmax: return f(acts::LogSoftmax{});
    case Act::Gelu: return f(acts::Gelu{});
    case Act::GeluTanh: return f(acts::GeluTanh{});
    case Act::Silu: return f(acts::Silu{});
    case Act::Elu: return f(acts::Elu{});
    case Act::Softplus: return f(acts::Softplus{});
    case Act::Mish: return f(acts::Mish{});
    case Act::Hardswish: return f(acts::Hardswish{});
    case Act::Identity:
    default: return f(acts::Identity{});
  }
}

}  // namespace torch_act
