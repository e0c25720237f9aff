// torch_act — the activation math, written once.
//
// Every activation is one functor: metadata (kName, kFormula, kReference,
// kHasAlpha, kDefaultAlpha, kSaves, ...) and `forward(z, a)` / `backward(g, s, a)`
// templated on the number type T.  T is float or double on the host and on
// CUDA devices (half / bfloat16 are widened to float by the kernels), and a
// SIMD vector type in the vectorised CPU kernels (kernels/cpu/simd_*.h give
// the t_* overloads and operators for it).  Functors therefore use only
// arithmetic operators, comparisons, `where(mask, a, b)` and the t_* functions
// below — never `?:` or `if` on T.
//
// `s` in backward is the tensor the op saved: the activation's output y when
// `kSaves == Saves::Output` (or OutputIfAlphaNonNeg with alpha >= 0), the
// pre-activation z otherwise.  Row activations (softmax, log_softmax) have
// kRowwise != 0 and no elementwise forward/backward: their kernels work on a
// whole row.
//
// A functor becomes an activation by registration (csrc/registry.h): the
// built-ins below are listed once in TORCH_ACT_BUILTIN_ACTIVATIONS, and every
// kernel set (each CPU ISA path, CUDA) is instantiated from that list; a
// user's plugin registers its own functor through the same call
// (torch_act/activation.h, docs/custom_activations.md).  Adding a built-in:
// one functor below and one entry in that list.  Names, defaults, formulas and
// the torch reference reach Python from the registry (torch_act.ACTIVATIONS),
// so the tests, docs table and plots pick it up.
#pragma once

#include <math.h>

#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define TA_HD __host__ __device__ __forceinline__
#define TA_HOST_DEVICE __host__ __device__
#else
#define TA_HD inline
#define TA_HOST_DEVICE
#endif

namespace torch_act {

// What the backward needs saved from the forward.
enum class Saves : int {
  Nothing = 0,              // derivative is constant (identity)
  Output = 1,               // derivative written in terms of y = act(z)
  Input = 2,                // derivative needs the pre-activation z
  OutputIfAlphaNonNeg = 3,  // y when alpha >= 0 (sign of y == sign of z), else z
};

// Row activations normalise over the last dim; only the built-ins have them.
enum class Rowwise : int { None = 0, Softmax = 1, LogSoftmax = 2 };

// Defaults for the metadata; a functor derives from it and overrides what differs.
struct ActivationBase {
  static constexpr const char* kFormula = "";    // for docs and plots
  static constexpr const char* kReference = "";  // the same in PyTorch, a Python expression in z, a
  static constexpr bool kHasAlpha = false;       // the activation takes a parameter
  static constexpr double kDefaultAlpha = 0.0;   // its default (ignored when !kHasAlpha)
  static constexpr bool kAlphaNonZero = false;   // alpha = 0 is refused (e.g. softplus' beta)
  static constexpr Saves kSaves = Saves::Input;
  static constexpr Rowwise kRowwise = Rowwise::None;
  // Higher derivatives (double backward and beyond): D_k(g, s, a) = g * d^(k-1)/ds^(k-1)
  // [act'(z) written in s], s the saved tensor as in backward (so D_1 is backward).
  // A functor gives D_2 as backward2 and D_3 as backward3 where it has them;
  // kZeroFromOrder is the first k with D_k == 0 almost everywhere (relu: 2,
  // tanh: 4, since act' = 1 - y^2 is a polynomial in y), 0 when none is.
  static constexpr int kZeroFromOrder = 0;
  // save="mask" (csrc/save_policy.h): an activation whose derivative takes two
  // values, mask_slope(true, a) and mask_slope(false, a), sets kMask; the
  // forward then keeps one bit per element, set where backward(1, s, a) is not
  // the off value, and the backward multiplies g by the slope of its bit.
  static constexpr bool kMask = false;
  static double mask_slope(bool, double) { return 0.0; }
};


// ---------------------------------------------------------------------------
// Scalar math: overloads for float and double.  SIMD types add their own
// overloads (found by argument-dependent lookup).
namespace act_math {

TA_HD float t_exp(float x) { return expf(x); }
TA_HD double t_exp(double x) { return exp(x); }
TA_HD float t_expm1(float x) { return expm1f(x); }
TA_HD double t_expm1(double x) { return expm1(x); }
TA_HD float t_log(float x) { return logf(x); }
TA_HD double t_log(double x) { return log(x); }
TA_HD float t_log1p(float x) { return log1pf(x); }
TA_HD double t_log1p(double x) { return log1p(x); }
TA_HD float t_tanh(float x) { return tanhf(x); }
TA_HD double t_tanh(double x) { return tanh(x); }
TA_HD float t_erf(float x) { return erff(x); }
TA_HD double t_erf(double x) { return erf(x); }
// the standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 (gelu's factor, without 1 + erf's cancellation)
TA_HD float t_ndtr(float x) { return 0.5f * erfcf(-x * 0.70710678118654752440f); }
TA_HD double t_ndtr(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
TA_HD float t_abs(float x) { return fabsf(x); }
TA_HD double t_abs(double x) { return fabs(x); }
TA_HD float t_sin(float x) { return sinf(x); }
TA_HD double t_sin(double x) { return sin(x); }
TA_HD float t_cos(float x) { return cosf(x); }
TA_HD double t_cos(double x) { return cos(x); }
TA_HD float t_sqrt(float x) { return sqrtf(x); }
TA_HD double t_sqrt(double x) { return sqrt(x); }
TA_HD float where(bool c, float a, float b) { return c ? a : b; }
TA_HD double where(bool c, double a, double b) { return c ? a : b; }
// Composites, for any T with the primitives above.
template <class T> TA_HD T t_sigmoid(T x) { return T(1) / (T(1) + t_exp(-x)); }

}  // namespace act_math

namespace acts {
using namespace act_math;

// Each functor: forward(z, a) -> y;  backward(g, s, a) -> dL/dz where g = dL/dy
// and s is y or z according to kSaves.  NaN / inf / kink semantics follow the
// PyTorch function in kReference (tested against it for every activation, and
// on PyTorch's own OpInfo samples: tests/test_pytorch_samples.py); where torch's
// CPU kernels disagree with themselves (a gradient at NaN: vector loop vs
// scalar tail), they follow its vector loop, what any real tensor runs.

struct Identity : ActivationBase {
  static constexpr const char* kName = "identity";
  static constexpr const char* kFormula = "z";
  static constexpr const char* kReference = "z";
  static constexpr Saves kSaves = Saves::Nothing;
  template <class T> TA_HD static T forward(T z, T) { return z; }
  template <class T> TA_HD static T backward(T g, T, T) { return g; }
  static constexpr int kZeroFromOrder = 2;
};

struct Relu : ActivationBase {
  static constexpr const char* kName = "relu";
  static constexpr const char* kFormula = "max(0, z)";
  static constexpr const char* kReference = "torch.relu(z)";
  static constexpr Saves kSaves = Saves::Output;
  // z < 0 -> 0, else z (NaN propagates, as torch.relu)
  template <class T> TA_HD static T forward(T z, T) { return where(z < T(0), T(0), z); }
  // as threshold_backward: y <= 0 -> 0
  template <class T> TA_HD static T backward(T g, T y, T) { return where(y <= T(0), T(0), g); }
  static constexpr int kZeroFromOrder = 2;  // act' is piecewise constant
  static constexpr bool kMask = true;
  static double mask_slope(bool on, double) { return on ? 1.0 : 0.0; }
};

struct LeakyRelu : ActivationBase {
  static constexpr const char* kName = "leaky_relu";
  static constexpr const char* kFormula = "z if z > 0 else a*z";
  static constexpr const char* kReference = "F.leaky_relu(z, a)";
  static constexpr bool kHasAlpha = true;
  static constexpr double kDefaultAlpha = 0.01;
  static constexpr Saves kSaves = Saves::OutputIfAlphaNonNeg;
  template <class T> TA_HD static T forward(T z, T a) { return where(z > T(0), z, z * a); }
  // s is y (a >= 0) or z (a < 0): either way s > 0 <=> z > 0
  template <class T> TA_HD static T backward(T g, T s, T a) { return where(s > T(0), g, g * a); }
  static constexpr int kZeroFromOrder = 2;  // act' is piecewise constant
  static constexpr bool kMask = true;
  static double mask_slope(bool on, double a) { return on ? 1.0 : a; }
};

struct Sigmoid : ActivationBase {
  static constexpr const char* kName = "sigmoid";
  static constexpr const char* kFormula = "1 / (1 + exp(-z))";
  static constexpr const char* kReference = "torch.sigmoid(z)";
  static constexpr Saves kSaves = Saves::Output;
  template <class T> TA_HD static T forward(T z, T) { return t_sigmoid(z); }
  template <class T> TA_HD static T backward(T g, T y, T) { return g * y * (T(1) - y); }
  // act' = y - y^2 in y: D_2 = g (1 - 2y), D_3 = -2g, then 0
  static constexpr int kZeroFromOrder = 4;
  template <class T> TA_HD static T backward2(T g, T y, T) { return g * (T(1) - T(2) * y); }
  template <class T> TA_HD static T backward3(T g, T, T) { return T(-2) * g; }
};

struct Tanh : ActivationBase {
  static constexpr const char* kName = "tanh";
  static constexpr const char* kFormula = "tanh(z)";
  static constexpr const char* kReference = "torch.tanh(z)";
  static constexpr Saves kSaves = Saves::Output;
  template <class T> TA_HD static T forward(T z, T) { return t_tanh(z); }
  template <class T> TA_HD static T backward(T g, T y, T) { return g * (T(1) - y * y); }
  // act' = 1 - y^2 in y: D_2 = -2 g y, D_3 = -2g, then 0
  static constexpr int kZeroFromOrder = 4;
  template <class T> TA_HD static T backward2(T g, T y, T) { return T(-2) * g * y; }
  template <class T> TA_HD static T backward3(T g, T, T) { return T(-2) * g; }
};

// Row activations: the kernels do the rows (max, sum of exp, normalise);
// forward / backward here are never called on elements.
struct Softmax : ActivationBase {
  static constexpr const char* kName = "softmax";
  static constexpr const char* kFormula = "exp(z_i) / sum_j exp(z_j)";
  static constexpr const char* kReference = "torch.softmax(z, -1)";
  static constexpr Saves kSaves = Saves::Output;
  static constexpr Rowwise kRowwise = Rowwise::Softmax;
  template <class T> TA_HD static T forward(T z, T) { return z; }
  template <class T> TA_HD static T backward(T g, T, T) { return g; }
};

struct LogSoftmax : ActivationBase {
  static constexpr const char* kName = "log_softmax";
  static constexpr const char* kFormula = "z_i - log(sum_j exp(z_j))";
  static constexpr const char* kReference = "torch.log_softmax(z, -1)";
  static constexpr Saves kSaves = Saves::Output;
  static constexpr Rowwise kRowwise = Rowwise::LogSoftmax;
  template <class T> TA_HD static T forward(T z, T) { return z; }
  template <class T> TA_HD static T backward(T g, T, T) { return g; }
};

struct Gelu : ActivationBase {
  static constexpr const char* kName = "gelu";
  static constexpr const char* kFormula = "z * 0.5 * (1 + erf(z / sqrt(2)))";
  static constexpr const char* kReference = "F.gelu(z)";
  // Phi(z) = (1 + erf(z / sqrt 2)) / 2 through t_ndtr: one erfc-like expression
  // on the CPU SIMD paths (simd_math.h ndtr_v), erfc on CUDA and in scalar code.
  template <class T> TA_HD static T forward(T z, T) { return z * t_ndtr(z); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T cdf = t_ndtr(z);
    const T pdf = t_exp(T(-0.5) * z * z) * T(0.39894228040143267794);  // 1/sqrt(2 pi)
    return g * (cdf + z * pdf);
  }
  // act'' = pdf (2 - z^2), act''' = pdf (z^3 - 4z)
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T pdf = t_exp(T(-0.5) * z * z) * T(0.39894228040143267794);
    return g * pdf * (T(2) - z * z);
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T pdf = t_exp(T(-0.5) * z * z) * T(0.39894228040143267794);
    return g * pdf * z * (z * z - T(4));
  }
};

struct GeluTanh : ActivationBase {
  static constexpr const char* kName = "gelu_tanh";
  static constexpr const char* kFormula = "0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))";
  static constexpr const char* kReference = "F.gelu(z, approximate='tanh')";
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
  // with u = c (z + k z^3), t = tanh(u), s2 = 1 - t^2:  t' = s2 u',
  // t'' = s2 (u'' - 2 t u'^2), t''' = s2 (u''' - 6 t u' u'' + (6 t^2 - 2) u'^3);
  // act'' = t' + z t'' / 2, act''' = 3 t'' / 2 + z t''' / 2
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T z2 = z * z;
    const T t = t_tanh(T(0.79788456080286535588) * (z + T(0.044715) * z2 * z));
    const T s2 = T(1) - t * t;
    const T u1 = T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * z2);
    const T u2 = T(0.79788456080286535588 * 6 * 0.044715) * z;
    return g * s2 * (u1 + T(0.5) * z * (u2 - T(2) * t * u1 * u1));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T z2 = z * z;
    const T t = t_tanh(T(0.79788456080286535588) * (z + T(0.044715) * z2 * z));
    const T s2 = T(1) - t * t;
    const T u1 = T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * z2);
    const T u2 = T(0.79788456080286535588 * 6 * 0.044715) * z;
    const T u3 = T(0.79788456080286535588 * 6 * 0.044715);
    const T t2 = s2 * (u2 - T(2) * t * u1 * u1);
    const T t3 = s2 * (u3 - T(6) * t * u1 * u2 + (T(6) * t * t - T(2)) * u1 * u1 * u1);
    return g * (T(1.5) * t2 + T(0.5) * z * t3);
  }
};

struct Silu : ActivationBase {
  static constexpr const char* kName = "silu";
  static constexpr const char* kFormula = "z * sigmoid(z)";
  static constexpr const char* kReference = "F.silu(z)";
  template <class T> TA_HD static T forward(T z, T) { return z / (T(1) + t_exp(-z)); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T s = t_sigmoid(z);
    return g * s * (T(1) + z * (T(1) - s));
  }
  // act'' = s (1-s) (2 + z (1-2s)), act''' = s (1-s) (3 (1-2s) + z (1 - 6s + 6s^2)), s = sigmoid(z)
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T s = t_sigmoid(z);
    return g * s * (T(1) - s) * (T(2) + z * (T(1) - T(2) * s));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T s = t_sigmoid(z);
    return g * s * (T(1) - s) * (T(3) * (T(1) - T(2) * s) + z * (T(1) - T(6) * s + T(6) * s * s));
  }
};

// torch's elu family (elu, selu, celu).  The forward is NaN at NaN either way;
// the backward takes the positive branch only where z > 0, so a NaN input gets
// a NaN gradient, as torch's vectorised elu_backward gives (its scalar tail
// gives g * scale; tensors of more than a few vectors take the vector path).
struct Elu : ActivationBase {
  static constexpr const char* kName = "elu";
  static constexpr const char* kFormula = "z if z > 0 else a*(exp(z) - 1)";
  static constexpr const char* kReference = "F.elu(z, a)";
  static constexpr bool kHasAlpha = true;
  static constexpr double kDefaultAlpha = 1.0;
  template <class T> TA_HD static T forward(T z, T a) { return where(z <= T(0), a * t_expm1(z), z); }
  template <class T> TA_HD static T backward(T g, T z, T a) {
    return where(z > T(0), g, g * a * t_exp(z));
  }
  template <class T> TA_HD static T backward2(T g, T z, T a) {
    return where(z > T(0), T(0), g * a * t_exp(z));
  }
  template <class T> TA_HD static T backward3(T g, T z, T a) {
    return where(z > T(0), T(0), g * a * t_exp(z));
  }
};

// softplus with beta = a and PyTorch's threshold 20: linear where a*z > 20.
struct Softplus : ActivationBase {
  static constexpr const char* kName = "softplus";
  static constexpr const char* kFormula = "log(1 + exp(a*z)) / a  (z if a*z > 20)";
  static constexpr const char* kReference = "F.softplus(z, a)";
  static constexpr bool kHasAlpha = true;
  static constexpr double kDefaultAlpha = 1.0;
  static constexpr bool kAlphaNonZero = true;
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
  // act'' = a s (1-s), act''' = a^2 s (1-s) (1-2s), s = sigmoid(a z); 0 on the linear branch
  template <class T> TA_HD static T backward2(T g, T z, T a) {
    const T az = z * a;
    const T s = t_sigmoid(az);
    return where(az > T(20), T(0), g * a * s * (T(1) - s));
  }
  template <class T> TA_HD static T backward3(T g, T z, T a) {
    const T az = z * a;
    const T s = t_sigmoid(az);
    return where(az > T(20), T(0), g * a * a * s * (T(1) - s) * (T(1) - T(2) * s));
  }
};

// mish(z) = z * tanh(log1p(exp(z)))  (as torch.nn.functional.mish)
struct Mish : ActivationBase {
  static constexpr const char* kName = "mish";
  static constexpr const char* kFormula = "z * tanh(softplus(z))";
  static constexpr const char* kReference = "F.mish(z)";
  template <class T> TA_HD static T forward(T z, T) { return z * t_tanh(t_log1p(t_exp(z))); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T tsp = t_tanh(t_log1p(t_exp(z)));
    const T sig = t_sigmoid(z);
    return g * (tsp + z * sig * (T(1) - tsp * tsp));
  }
  // with p = tanh(softplus(z)), s = sigmoid(z), w = 1 - p^2, C = 1 - s - 2ps,
  // B = 2 + zC, C' = -s(1-s) - 2(w s^2 + p s (1-s)):  act'' = w s B, act''' = w s (C (B+1) + z C')
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T p = t_tanh(t_log1p(t_exp(z)));
    const T s = t_sigmoid(z);
    const T w = T(1) - p * p;
    return g * w * s * (T(2) + z * (T(1) - s - T(2) * p * s));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T p = t_tanh(t_log1p(t_exp(z)));
    const T s = t_sigmoid(z);
    const T w = T(1) - p * p;
    const T c = T(1) - s - T(2) * p * s;
    const T dc = -(s * (T(1) - s)) - T(2) * (w * s * s + p * s * (T(1) - s));
    return g * w * s * (c * (T(3) + z * c) + z * dc);
  }
};

struct Hardswish : ActivationBase {
  static constexpr const char* kName = "hardswish";
  static constexpr const char* kFormula = "z * clamp(z + 3, 0, 6) / 6";
  static constexpr const char* kReference = "F.hardswish(z)";
  template <class T> TA_HD static T forward(T z, T) {
    // z * 0 (not 0) below -3: -inf gives NaN and -5 gives -0, as torch's hardswish
    return where(z <= T(-3), z * T(0), where(z >= T(3), z, z * (z + T(3)) * T(1.0 / 6.0)));
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    // as torch's vectorised hardswish_backward: 0 at z <= -3, g at z >= 3,
    // g/3 z + g/2 between (so NaN gives NaN)
    return where(z <= T(-3), T(0), where(z >= T(3), g, g * (z * T(1.0 / 3.0) + T(0.5))));
  }
  // act'' = 1/3 on (-3, 3) (as torch's hardswish double backward), act''' = 0
  static constexpr int kZeroFromOrder = 3;
  template <class T> TA_HD static T backward2(T g, T z, T) {
    return where(z > T(-3), where(z < T(3), g * T(1.0 / 3.0), T(0)), T(0));
  }
};

struct Relu6 : ActivationBase {
  static constexpr const char* kName = "relu6";
  static constexpr const char* kFormula = "min(max(0, z), 6)";
  static constexpr const char* kReference = "F.relu6(z)";
  static constexpr Saves kSaves = Saves::Output;
  template <class T> TA_HD static T forward(T z, T) {
    return where(z < T(0), T(0), where(z > T(6), T(6), z));  // NaN propagates
  }
  // as torch's vectorised hardtanh_backward: g only where 0 < z < 6 (y in
  // (0, 6) <=> z in (0, 6)), so NaN gives 0
  template <class T> TA_HD static T backward(T g, T y, T) {
    return where(y > T(0), where(y < T(6), g, T(0)), T(0));
  }
  static constexpr int kZeroFromOrder = 2;  // act' is piecewise constant
  static constexpr bool kMask = true;
  static double mask_slope(bool on, double) { return on ? 1.0 : 0.0; }
};

struct Hardsigmoid : ActivationBase {
  static constexpr const char* kName = "hardsigmoid";
  static constexpr const char* kFormula = "min(max(0, z + 3), 6) / 6";
  static constexpr const char* kReference = "F.hardsigmoid(z)";
  static constexpr Saves kSaves = Saves::Output;
  template <class T> TA_HD static T forward(T z, T) {
    const T u = z + T(3);
    return where(u < T(0), T(0), where(u > T(6), T(6), u)) * T(1.0 / 6.0);
  }
  // g/6 where -3 < z < 3, i.e. 0 < y < 1 (NaN gives 0, as torch's)
  template <class T> TA_HD static T backward(T g, T y, T) {
    return where(y > T(0), where(y < T(1), g * T(1.0 / 6.0), T(0)), T(0));
  }
  static constexpr int kZeroFromOrder = 2;  // act' is piecewise constant
  static constexpr bool kMask = true;
  static double mask_slope(bool on, double) { return on ? 1.0 / 6.0 : 0.0; }
};

struct Selu : ActivationBase {
  static constexpr const char* kName = "selu";
  static constexpr const char* kFormula = "scale * (z if z > 0 else alpha*(exp(z) - 1))";
  static constexpr const char* kReference = "F.selu(z)";
  static constexpr double kAlpha = 1.6732632423543772848170429916717;
  static constexpr double kScale = 1.0507009873554804934193349852946;
  template <class T> TA_HD static T forward(T z, T) {
    return where(z <= T(0), T(kAlpha * kScale) * t_expm1(z), T(kScale) * z);
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    return where(z > T(0), g * T(kScale), g * T(kAlpha * kScale) * t_exp(z));
  }
  template <class T> TA_HD static T backward2(T g, T z, T) {
    return where(z > T(0), T(0), g * T(kAlpha * kScale) * t_exp(z));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    return where(z > T(0), T(0), g * T(kAlpha * kScale) * t_exp(z));
  }
};

struct Celu : ActivationBase {
  static constexpr const char* kName = "celu";
  static constexpr const char* kFormula = "z if z > 0 else a*(exp(z/a) - 1)";
  static constexpr const char* kReference = "F.celu(z, a)";
  static constexpr bool kHasAlpha = true;
  static constexpr double kDefaultAlpha = 1.0;
  static constexpr bool kAlphaNonZero = true;
  template <class T> TA_HD static T forward(T z, T a) {
    return where(z <= T(0), a * t_expm1(z / a), z);
  }
  template <class T> TA_HD static T backward(T g, T z, T a) {
    return where(z > T(0), g, g * t_exp(z / a));
  }
  template <class T> TA_HD static T backward2(T g, T z, T a) {
    return where(z > T(0), T(0), g * t_exp(z / a) / a);
  }
  template <class T> TA_HD static T backward3(T g, T z, T a) {
    return where(z > T(0), T(0), g * t_exp(z / a) / (a * a));
  }
};

struct Softsign : ActivationBase {
  static constexpr const char* kName = "softsign";
  static constexpr const char* kFormula = "z / (1 + |z|)";
  static constexpr const char* kReference = "F.softsign(z)";
  template <class T> TA_HD static T forward(T z, T) { return z / (T(1) + t_abs(z)); }
  // 1/(1+|z|) - |z|/(1+|z|)^2 (= 1/(1+|z|)^2), written as torch's composite
  // autograd evaluates it so that +-inf gives NaN as there
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T d = T(1) + t_abs(z);
    return g / d - g * t_abs(z) / (d * d);
  }
  // act'' = -2 sign(z) / (1+|z|)^3, act''' = 6 / (1+|z|)^4
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T d = T(1) + t_abs(z);
    const T sg = where(z < T(0), T(-1), where(z > T(0), T(1), T(0)));
    return T(-2) * g * sg / (d * d * d);
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T d = T(1) + t_abs(z);
    return T(6) * g / (d * d * d * d);
  }
};

// log(sigmoid(z)) = min(z, 0) - log1p(exp(-|z|)), as torch's log_sigmoid
struct LogSigmoid : ActivationBase {
  static constexpr const char* kName = "logsigmoid";
  static constexpr const char* kFormula = "log(1 / (1 + exp(-z)))";
  static constexpr const char* kReference = "F.logsigmoid(z)";
  template <class T> TA_HD static T forward(T z, T) {
    return where(z < T(0), z, T(0)) - t_log1p(t_exp(-t_abs(z)));
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T e = t_exp(-t_abs(z));
    const T q = e / (T(1) + e);
    return where(z < T(0), g * (T(1) - q), g * q);
  }
  // act'' = -s (1-s), act''' = -s (1-s) (1-2s), s = sigmoid(z), from q = e/(1+e), e = exp(-|z|)
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T e = t_exp(-t_abs(z));
    const T q = e / (T(1) + e);
    return -(g * q * (T(1) - q));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T e = t_exp(-t_abs(z));
    const T q = e / (T(1) + e);
    const T one_m_2s = where(z < T(0), T(1) - T(2) * q, T(2) * q - T(1));
    return -(g * q * (T(1) - q) * one_m_2s);
  }
};

struct Tanhshrink : ActivationBase {
  static constexpr const char* kName = "tanhshrink";
  static constexpr const char* kFormula = "z - tanh(z)";
  static constexpr const char* kReference = "F.tanhshrink(z)";
  template <class T> TA_HD static T forward(T z, T) { return z - t_tanh(z); }
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T t = t_tanh(z);
    return g * t * t;
  }
  // act'' = 2t (1-t^2), act''' = 2 (1-t^2)(1-3t^2), t = tanh(z)
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T t = t_tanh(z);
    return T(2) * g * t * (T(1) - t * t);
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T t = t_tanh(z);
    return T(2) * g * (T(1) - t * t) * (T(1) - T(3) * t * t);
  }
};

// relu(z)^2 (Primer; modded-nanoGPT)
struct SquaredRelu : ActivationBase {
  static constexpr const char* kName = "squared_relu";
  static constexpr const char* kFormula = "max(0, z)^2";
  static constexpr const char* kReference = "torch.relu(z) ** 2";
  template <class T> TA_HD static T forward(T z, T) {
    const T r = where(z < T(0), T(0), z);
    return r * r;
  }
  template <class T> TA_HD static T backward(T g, T z, T) {
    return where(z < T(0), T(0), T(2) * z * g);
  }
  static constexpr int kZeroFromOrder = 3;
  template <class T> TA_HD static T backward2(T g, T z, T) { return where(z > T(0), T(2) * g, T(0)); }
};

// sin(a z), a = omega_0 (SIREN)
struct Sin : ActivationBase {
  static constexpr const char* kName = "sin";
  static constexpr const char* kFormula = "sin(a*z)";
  static constexpr const char* kReference = "torch.sin(a * z)";
  static constexpr bool kHasAlpha = true;
  static constexpr double kDefaultAlpha = 1.0;
  template <class T> TA_HD static T forward(T z, T a) { return t_sin(a * z); }
  template <class T> TA_HD static T backward(T g, T z, T a) { return g * a * t_cos(a * z); }
  template <class T> TA_HD static T backward2(T g, T z, T a) { return -(g * a * a * t_sin(a * z)); }
  template <class T> TA_HD static T backward3(T g, T z, T a) { return -(g * a * a * a * t_cos(a * z)); }
};

// z * sigmoid(1.702 z): gelu's sigmoid approximation (Hendrycks & Gimpel), the
// activation of OpenAI's CLIP (transformers' and open_clip's QuickGELU), in the
// form they compute it
struct QuickGelu : ActivationBase {
  static constexpr const char* kName = "quick_gelu";
  static constexpr const char* kFormula = "z * sigmoid(1.702 z)";
  static constexpr const char* kReference = "z * torch.sigmoid(1.702 * z)";
  static constexpr double kC = 1.702;
  template <class T> TA_HD static T forward(T z, T) { return z * t_sigmoid(T(kC) * z); }
  // silu's derivatives at u = c z, chained (s = sigmoid(u)): act' = s (1 + u (1-s)),
  // act'' = c s (1-s) (2 + u (1-2s)), act''' = c^2 s (1-s) (3 (1-2s) + u (1 - 6s + 6s^2))
  template <class T> TA_HD static T backward(T g, T z, T) {
    const T u = T(kC) * z;
    const T s = t_sigmoid(u);
    return g * s * (T(1) + u * (T(1) - s));
  }
  template <class T> TA_HD static T backward2(T g, T z, T) {
    const T u = T(kC) * z;
    const T s = t_sigmoid(u);
    return T(kC) * g * s * (T(1) - s) * (T(2) + u * (T(1) - T(2) * s));
  }
  template <class T> TA_HD static T backward3(T g, T z, T) {
    const T u = T(kC) * z;
    const T s = t_sigmoid(u);
    return T(kC * kC) * g * s * (T(1) - s) *
           (T(3) * (T(1) - T(2) * s) + u * (T(1) - T(6) * s + T(6) * s * s));
  }
};

}  // namespace acts

// The built-ins, in registration order (the order of torch_act.ACTIVATIONS).
// Every kernel set is instantiated from this list (X(functor)); nothing else
// lists activations.
#define TORCH_ACT_BUILTIN_ACTIVATIONS(X)                                                  \
  X(Identity) X(Relu) X(LeakyRelu) X(Sigmoid) X(Tanh) X(Softmax) X(LogSoftmax) X(Gelu)    \
  X(GeluTanh) X(Silu) X(Elu) X(Softplus) X(Mish) X(Hardswish) X(Relu6) X(Hardsigmoid)     \
  X(Selu) X(Celu) X(Softsign) X(LogSigmoid) X(Tanhshrink) X(SquaredRelu) X(Sin)        \
  X(QuickGelu)

template <class... Ts>
struct TypeList {};
#define TORCH_ACT_LIST_ENTRY_(F) acts::F,
using BuiltinActivations = TypeList<TORCH_ACT_BUILTIN_ACTIVATIONS(TORCH_ACT_LIST_ENTRY_) void>;
#undef TORCH_ACT_LIST_ENTRY_

#define TORCH_ACT_COUNT_ONE_(F) +1
constexpr int kNumBuiltinActivations = 0 TORCH_ACT_BUILTIN_ACTIVATIONS(TORCH_ACT_COUNT_ONE_);
#undef TORCH_ACT_COUNT_ONE_

// f(Functor{}) for the built-in at position idx (nothing when out of range):
// the CUDA GEMM epilogue's runtime choice among the built-ins.
template <class F, class T0, class... Ts>
TA_HOST_DEVICE inline void visit_builtin_(int idx, F& f, TypeList<T0, Ts...>) {
  if constexpr (!std::is_void<T0>::value) {
    if (idx == 0)
      f(T0{});
    else
      visit_builtin_(idx - 1, f, TypeList<Ts...>{});
  }
}
template <class F>
TA_HOST_DEVICE inline void visit_builtin(int idx, F&& f) {
  visit_builtin_(idx, f, BuiltinActivations{});
}

// Does the backward read the output (true) or the pre-activation (false)?
// (For Saves::Nothing the answer does not matter; we report output.)
constexpr bool saves_output(Saves s, double alpha) {
  return s == Saves::Output || s == Saves::Nothing ||
         (s == Saves::OutputIfAlphaNonNeg && alpha >= 0.0);
}

}  // namespace torch_act

// ---------------------------------------------------------------------------
// Which derivative orders a functor has (see ActivationBase::kZeroFromOrder).
namespace torch_act {

template <class Op, class = void>
struct HasBackward2 : std::false_type {};
template <class Op>
struct HasBackward2<Op, std::void_t<decltype(Op::backward2(0.0f, 0.0f, 0.0f))>> : std::true_type {};
template <class Op, class = void>
struct HasBackward3 : std::false_type {};
template <class Op>
struct HasBackward3<Op, std::void_t<decltype(Op::backward3(0.0f, 0.0f, 0.0f))>> : std::true_type {};

constexpr int kAnyOrder = 1 << 30;
// The highest k for which D_k can be evaluated (kAnyOrder: every k, those
// from kZeroFromOrder on being 0).  Row activations: 1 here (the kernels do
// their first derivative; csrc/autograd.cpp writes the higher ones with
// tensor ops).
template <class Op>
constexpr int max_derivative_order() {
  if constexpr (Op::kRowwise != Rowwise::None) {
    return 1;
  } else if constexpr (Op::kZeroFromOrder > 0) {
    static_assert(Op::kZeroFromOrder <= 2 || HasBackward2<Op>::value,
                  "an activation with kZeroFromOrder > 2 defines backward2");
    static_assert(Op::kZeroFromOrder <= 3 || HasBackward3<Op>::value,
                  "an activation with kZeroFromOrder > 3 defines backward3");
    return kAnyOrder;
  } else {
    return HasBackward3<Op>::value ? 3 : HasBackward2<Op>::value ? 2 : 1;
  }
}

}  // namespace torch_act
