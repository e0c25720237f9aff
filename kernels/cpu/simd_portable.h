// torch_act — portable "vector" types for the baseline kernel TU
// (kernels_portable.cpp): fixed-size lane arrays with plain loops, which the
// compiler may auto-vectorise for whatever the baseline target has (SSE2 on
// x86-64, NEON on aarch64).  Transcendentals go lane by lane through libm (the
// reference accuracy); conversions to/from bf16 and fp16 are done in software
// (round to nearest even, as c10).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel_table.h"

namespace torch_act {
namespace cpu {
namespace portable {

// register tiles (rows x vectors): f32 4 x 16, f64 4 x 8
constexpr int kMrF32 = 4, kNvF32 = 2, kMrF64 = 4, kNvF64 = 2;

template <int N>
struct LaneMask {
  bool m[N];
};

#define TA_LANES(n) for (int i = 0; i < (n); ++i)

struct VecF {
  static constexpr int W = 8;
  using Scalar = float;
  using Mask = LaneMask<8>;
  float v[8];
  VecF() = default;
  explicit VecF(double d) { TA_LANES(8) v[i] = static_cast<float>(d); }
  static VecF zero() { return set1(0.0f); }
  static VecF set1(float f) {
    VecF r;
    TA_LANES(8) r.v[i] = f;
    return r;
  }
  static Mask first_n(int n) {
    Mask m;
    TA_LANES(8) m.m[i] = i < n;
    return m;
  }
};

struct VecD {
  static constexpr int W = 4;
  using Scalar = double;
  using Mask = LaneMask<4>;
  double v[4];
  VecD() = default;
  explicit VecD(double d) { TA_LANES(4) v[i] = d; }
  static VecD zero() { return set1(0.0); }
  static VecD set1(double f) {
    VecD r;
    TA_LANES(4) r.v[i] = f;
    return r;
  }
  static Mask first_n(int n) {
    Mask m;
    TA_LANES(4) m.m[i] = i < n;
    return m;
  }
};

#define TA_BINOP(V, op)                        \
  inline V operator op(const V& a, const V& b) { \
    V r;                                         \
    TA_LANES(V::W) r.v[i] = a.v[i] op b.v[i];    \
    return r;                                    \
  }
#define TA_CMPOP(V, op)                                      \
  inline V::Mask operator op(const V& a, const V& b) {       \
    V::Mask r;                                               \
    TA_LANES(V::W) r.m[i] = a.v[i] op b.v[i];                \
    return r;                                                \
  }
#define TA_VEC_COMMON(V)                                                     \
  TA_BINOP(V, +)                                                             \
  TA_BINOP(V, -)                                                             \
  TA_BINOP(V, *)                                                             \
  TA_BINOP(V, /)                                                             \
  TA_CMPOP(V, <)                                                             \
  TA_CMPOP(V, <=)                                                            \
  TA_CMPOP(V, >)                                                             \
  TA_CMPOP(V, >=)                                                            \
  TA_CMPOP(V, ==)                                                            \
  TA_CMPOP(V, !=)                                                            \
  inline V operator-(const V& a) {                                           \
    V r;                                                                     \
    TA_LANES(V::W) r.v[i] = -a.v[i];                                         \
    return r;                                                                \
  }                                                                          \
  inline V where(const V::Mask& m, const V& a, const V& b) {                 \
    V r;                                                                     \
    TA_LANES(V::W) r.v[i] = m.m[i] ? a.v[i] : b.v[i];                        \
    return r;                                                                \
  }                                                                          \
  inline V fmadd(const V& a, const V& b, const V& c) {                       \
    V r;                                                                     \
    TA_LANES(V::W) r.v[i] = a.v[i] * b.v[i] + c.v[i];                        \
    return r;                                                                \
  }                                                                          \
  inline V vmax(const V& a, const V& b) {                                    \
    V r;                                                                     \
    TA_LANES(V::W) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];               \
    return r;                                                                \
  }                                                                          \
  inline V::Scalar hsum(const V& a) {                                        \
    V::Scalar s = 0;                                                         \
    TA_LANES(V::W) s += a.v[i];                                              \
    return s;                                                                \
  }                                                                          \
  inline V::Scalar hmax(const V& a) {                                        \
    V::Scalar s = a.v[0];                                                    \
    TA_LANES(V::W) s = a.v[i] > s ? a.v[i] : s;                              \
    return s;                                                                \
  }

TA_VEC_COMMON(VecF)
TA_VEC_COMMON(VecD)

// lane i of a mask <-> bit i of an integer (save="mask" bits)
template <int N>
inline unsigned bits_of(const LaneMask<N>& m) {
  unsigned b = 0;
  TA_LANES(N) b |= unsigned(m.m[i]) << i;
  return b;
}
template <class M>
inline M mask_of_bits(unsigned b) {
  M m;
  TA_LANES(int(sizeof(m.m))) m.m[i] = (b >> i) & 1u;
  return m;
}

#define TA_LANEWISE(V, name, fn)  \
  inline V name(const V& a) {     \
    V r;                          \
    TA_LANES(V::W) r.v[i] = fn(a.v[i]); \
    return r;                     \
  }
TA_LANEWISE(VecF, t_exp, expf)
TA_LANEWISE(VecF, t_expm1, expm1f)
TA_LANEWISE(VecF, t_log1p, log1pf)
TA_LANEWISE(VecF, t_tanh, tanhf)
TA_LANEWISE(VecF, t_erf, erff)
TA_LANEWISE(VecF, exp_v, expf)
TA_LANEWISE(VecD, t_exp, exp)
TA_LANEWISE(VecD, t_expm1, expm1)
TA_LANEWISE(VecD, t_log1p, log1p)
TA_LANEWISE(VecD, t_tanh, tanh)
TA_LANEWISE(VecD, t_erf, erf)
inline float ndtr_lane(float x) { return 0.5f * erfcf(-x * 0.70710678118654752440f); }
inline double ndtr_lane(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
TA_LANEWISE(VecF, t_ndtr, ndtr_lane)
TA_LANEWISE(VecD, t_ndtr, ndtr_lane)
TA_LANEWISE(VecD, exp_v, exp)
TA_LANEWISE(VecF, t_log, logf)
TA_LANEWISE(VecF, t_abs, fabsf)
TA_LANEWISE(VecF, t_sin, sinf)
TA_LANEWISE(VecF, t_cos, cosf)
TA_LANEWISE(VecF, t_sqrt, sqrtf)
TA_LANEWISE(VecD, t_log, log)
TA_LANEWISE(VecD, t_abs, fabs)
TA_LANEWISE(VecD, t_sin, sin)
TA_LANEWISE(VecD, t_cos, cos)
TA_LANEWISE(VecD, t_sqrt, sqrt)

// ---- scalar conversions
inline uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline float to_f32(float x) { return x; }
inline float to_f32(bf16_t x) { return f32_from_bits(uint32_t(x.x) << 16); }
inline float to_f32(f16_t x) {
  const uint32_t h = x.x;
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  if (e == 0) {
    const float f = float(m) * 5.9604644775390625e-8f;  // m * 2^-24
    return sign ? -f : f;
  }
  if (e == 31) return f32_from_bits(sign | 0x7F800000u | (m << 13));
  return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}
inline double to_f64(double x) { return x; }
inline void from_f32(float x, float* p) { *p = x; }
inline void from_f32(float x, bf16_t* p) {
  const uint32_t u = f32_bits(x);
  p->x = (x != x) ? uint16_t(0x7FC0) : uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
// c10's fp16_ieee_from_fp32_value (round to nearest even, denormals, inf, NaN)
inline void from_f32(float f, f16_t* p) {
  const float scale_to_inf = f32_from_bits(0x77800000u);   // 2^112
  const float scale_to_zero = f32_from_bits(0x08800000u);  // 2^-110
  float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = f32_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f32_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  p->x = uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// ---- loads / stores (n valid lanes)
template <class T>
inline VecF load_n(const T* p, int n) {
  VecF r;
  TA_LANES(8) r.v[i] = i < n ? to_f32(p[i]) : 0.0f;
  return r;
}
inline VecF loadu(const float* p) { return load_n(p, 8); }
inline VecD load_n(const double* p, int n) {
  VecD r;
  TA_LANES(4) r.v[i] = i < n ? p[i] : 0.0;
  return r;
}
inline VecD loadu(const double* p) { return load_n(p, 4); }
template <class T>
inline void store_n(T* p, const VecF& v, int n) {
  for (int i = 0; i < n && i < 8; ++i) from_f32(v.v[i], p + i);
}
inline void storeu(float* p, const VecF& v) { store_n(p, v, 8); }
inline void store_n(double* p, const VecD& v, int n) {
  for (int i = 0; i < n && i < 4; ++i) p[i] = v.v[i];
}
inline void storeu(double* p, const VecD& v) { store_n(p, v, 4); }

template <class V>
inline void transpose_vecs(V* r) {
  V t[V::W];
  for (int i = 0; i < V::W; ++i)
    for (int j = 0; j < V::W; ++j) t[j].v[i] = r[i].v[j];
  for (int i = 0; i < V::W; ++i) r[i] = t[i];
}

#undef TA_BINOP
#undef TA_CMPOP
#undef TA_VEC_COMMON
#undef TA_LANEWISE

}  // namespace portable
}  // namespace cpu
}  // namespace torch_act
