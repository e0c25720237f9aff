// torch_act — AVX-512 vector types for the avx512 kernel TU (kernels_avx512.cpp
// only; that TU sets the target with #pragma GCC target before including this).
//
// VecF (16 x float) and VecD (8 x double) with the operators, comparisons and
// `where` that the activation functors (activations.h) need, the t_* overloads
// (in simd_math.h, included at the bottom), and the loads/stores/conversions
// the kernels use.  Everything is in namespace torch_act::cpu::avx512 so that
// nothing here can be merged with a baseline-compiled symbol (the amx TU
// includes it with TA_AVX512_NS=amx for the same reason).
#pragma once

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernel_table.h"

#ifndef TA_AVX512_NS
#define TA_AVX512_NS avx512
#endif

namespace torch_act {
namespace cpu {
namespace TA_AVX512_NS {

#define TA_HAS_BF16_DOT 1
// register tiles (rows x vectors): f32 and bf16 12 x 32, f64 12 x 16
constexpr int kMrF32 = 12, kNvF32 = 2, kMrF64 = 12, kNvF64 = 2, kMrBf16 = 12, kNvBf16 = 2;

struct MaskF {
  __mmask16 m;
};
struct MaskD {
  __mmask8 m;
};

struct VecF {
  static constexpr int W = 16;
  using Scalar = float;
  using Mask = MaskF;
  __m512 v;
  VecF() = default;
  VecF(__m512 x) : v(x) {}
  explicit VecF(double d) : v(_mm512_set1_ps(static_cast<float>(d))) {}
  static VecF zero() { return _mm512_setzero_ps(); }
  static VecF set1(float f) { return _mm512_set1_ps(f); }
  static MaskF first_n(int n) { return {n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u)}; }
};

struct VecD {
  static constexpr int W = 8;
  using Scalar = double;
  using Mask = MaskD;
  __m512d v;
  VecD() = default;
  VecD(__m512d x) : v(x) {}
  explicit VecD(double d) : v(_mm512_set1_pd(d)) {}
  static VecD zero() { return _mm512_setzero_pd(); }
  static VecD set1(double f) { return _mm512_set1_pd(f); }
  static MaskD first_n(int n) { return {n >= 8 ? __mmask8(0xFF) : __mmask8((1u << n) - 1u)}; }
};

// ---- float arithmetic
inline VecF operator+(VecF a, VecF b) { return _mm512_add_ps(a.v, b.v); }
inline VecF operator-(VecF a, VecF b) { return _mm512_sub_ps(a.v, b.v); }
inline VecF operator*(VecF a, VecF b) { return _mm512_mul_ps(a.v, b.v); }
inline VecF operator/(VecF a, VecF b) { return _mm512_div_ps(a.v, b.v); }
inline VecF operator-(VecF a) {
  return _mm512_castsi512_ps(
      _mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(int32_t(0x80000000u))));
}
inline MaskF operator<(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
inline MaskF operator<=(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ)}; }
inline MaskF operator>(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
inline MaskF operator>=(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ)}; }
inline MaskF operator==(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ)}; }
inline MaskF operator!=(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_NEQ_UQ)}; }
inline MaskF operator&(MaskF a, MaskF b) { return {__mmask16(a.m & b.m)}; }
inline MaskF operator|(MaskF a, MaskF b) { return {__mmask16(a.m | b.m)}; }
inline MaskF operator~(MaskF a) { return {__mmask16(~a.m)}; }
inline VecF where(MaskF m, VecF a, VecF b) { return _mm512_mask_blend_ps(m.m, b.v, a.v); }
inline MaskF isnan(VecF a) { return {_mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q)}; }
inline VecF fmadd(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
inline VecF fnmadd(VecF a, VecF b, VecF c) { return _mm512_fnmadd_ps(a.v, b.v, c.v); }
inline VecF vmin(VecF a, VecF b) { return _mm512_min_ps(a.v, b.v); }
inline VecF vmax(VecF a, VecF b) { return _mm512_max_ps(a.v, b.v); }
inline VecF vabs(VecF a) { return _mm512_abs_ps(a.v); }
inline VecF copysign_v(VecF mag, VecF sgn) {
  const __m512i s = _mm512_set1_epi32(int32_t(0x80000000u));
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(mag.v),
                                                       _mm512_castps_si512(sgn.v), s, 0xD8));
}
inline VecF round_nearest(VecF a) {
  return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// y * 2^n, n integral (any range; over/underflow rounded correctly)
inline VecF ldexp_v(VecF y, VecF n) { return _mm512_scalef_ps(y.v, n.v); }
// 2^n for integral n in the normal range
inline VecF pow2i(VecF n) {
  const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
// m in [1, 2) and e with u = m 2^e, for finite u > 0 (denormals included)
inline VecF frexp1(VecF u, VecF& e) {
  e = _mm512_getexp_ps(u.v);
  return _mm512_getmant_ps(u.v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
}
inline float hsum(VecF a) { return _mm512_reduce_add_ps(a.v); }
inline float hmax(VecF a) { return _mm512_reduce_max_ps(a.v); }

// ---- double arithmetic
inline VecD operator+(VecD a, VecD b) { return _mm512_add_pd(a.v, b.v); }
inline VecD operator-(VecD a, VecD b) { return _mm512_sub_pd(a.v, b.v); }
inline VecD operator*(VecD a, VecD b) { return _mm512_mul_pd(a.v, b.v); }
inline VecD operator/(VecD a, VecD b) { return _mm512_div_pd(a.v, b.v); }
inline VecD operator-(VecD a) {
  return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a.v),
                                              _mm512_set1_epi64(int64_t(0x8000000000000000ull))));
}
inline MaskD operator<(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ)}; }
inline MaskD operator<=(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_LE_OQ)}; }
inline MaskD operator>(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ)}; }
inline MaskD operator>=(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_GE_OQ)}; }
inline MaskD operator==(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_EQ_OQ)}; }
inline MaskD operator!=(VecD a, VecD b) { return {_mm512_cmp_pd_mask(a.v, b.v, _CMP_NEQ_UQ)}; }
inline MaskD operator&(MaskD a, MaskD b) { return {__mmask8(a.m & b.m)}; }
inline MaskD operator|(MaskD a, MaskD b) { return {__mmask8(a.m | b.m)}; }
inline MaskD operator~(MaskD a) { return {__mmask8(~a.m)}; }
inline VecD where(MaskD m, VecD a, VecD b) { return _mm512_mask_blend_pd(m.m, b.v, a.v); }
inline MaskD isnan(VecD a) { return {_mm512_cmp_pd_mask(a.v, a.v, _CMP_UNORD_Q)}; }
// lane i of a mask <-> bit i of an integer (save="mask" bits)
inline unsigned bits_of(MaskF m) { return unsigned(m.m); }
inline unsigned bits_of(MaskD m) { return unsigned(m.m); }
template <class M>
inline M mask_of_bits(unsigned b);
template <>
inline MaskF mask_of_bits<MaskF>(unsigned b) { return {__mmask16(b)}; }
template <>
inline MaskD mask_of_bits<MaskD>(unsigned b) { return {__mmask8(b)}; }
inline VecD fmadd(VecD a, VecD b, VecD c) { return _mm512_fmadd_pd(a.v, b.v, c.v); }
inline VecD fnmadd(VecD a, VecD b, VecD c) { return _mm512_fnmadd_pd(a.v, b.v, c.v); }
inline VecD vmin(VecD a, VecD b) { return _mm512_min_pd(a.v, b.v); }
inline VecD vmax(VecD a, VecD b) { return _mm512_max_pd(a.v, b.v); }
inline VecD vabs(VecD a) { return _mm512_abs_pd(a.v); }
inline VecD copysign_v(VecD mag, VecD sgn) {
  const __m512i s = _mm512_set1_epi64(int64_t(0x8000000000000000ull));
  return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(mag.v),
                                                       _mm512_castpd_si512(sgn.v), s, 0xD8));
}
inline VecD round_nearest(VecD a) {
  return _mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline VecD ldexp_v(VecD y, VecD n) { return _mm512_scalef_pd(y.v, n.v); }
inline VecD pow2i(VecD n) {
  const __m512i e = _mm512_add_epi64(_mm512_cvtpd_epi64(n.v), _mm512_set1_epi64(1023));
  return _mm512_castsi512_pd(_mm512_slli_epi64(e, 52));
}
inline VecD frexp1(VecD u, VecD& e) {
  e = _mm512_getexp_pd(u.v);
  return _mm512_getmant_pd(u.v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
}
inline double hsum(VecD a) { return _mm512_reduce_add_pd(a.v); }
inline double hmax(VecD a) { return _mm512_reduce_max_pd(a.v); }

// ---- loads / stores.  n = number of valid lanes (>= W: full vector);
// masked lanes are neither read nor written (no faults past the end).
inline __mmask16 mask16(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }
inline __mmask8 mask8(int n) { return n >= 8 ? __mmask8(0xFF) : __mmask8((1u << n) - 1u); }

inline VecF bf16_to_f32(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
// round to nearest even, NaN -> 0x7FC0 (as c10::BFloat16)
inline __m256i f32_to_bf16(VecF x) {
  const __m512i u = _mm512_castps_si512(x.v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  r = _mm512_srli_epi32(r, 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(x.v, x.v, _CMP_UNORD_Q),
                            _mm512_set1_epi32(0x7FC0));
  return _mm512_cvtepi32_epi16(r);
}

inline VecF loadu(const float* p) { return _mm512_loadu_ps(p); }
inline VecF load_n(const float* p, int n) {
  return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask16(n), p);
}
inline VecF load_n(const bf16_t* p, int n) {
  const __m256i h = n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                            : _mm256_maskz_loadu_epi16(mask16(n), p);
  return bf16_to_f32(h);
}
inline VecF load_n(const f16_t* p, int n) {
  const __m256i h = n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                            : _mm256_maskz_loadu_epi16(mask16(n), p);
  return _mm512_cvtph_ps(h);
}
inline VecD loadu(const double* p) { return _mm512_loadu_pd(p); }
inline VecD load_n(const double* p, int n) {
  return n >= 8 ? _mm512_loadu_pd(p) : _mm512_maskz_loadu_pd(mask8(n), p);
}

inline void storeu(float* p, VecF v) { _mm512_storeu_ps(p, v.v); }
inline void store_n(float* p, VecF v, int n) {
  if (n >= 16)
    _mm512_storeu_ps(p, v.v);
  else
    _mm512_mask_storeu_ps(p, mask16(n), v.v);
}
inline void store_n(bf16_t* p, VecF v, int n) {
  const __m256i h = f32_to_bf16(v);
  if (n >= 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
  else
    _mm256_mask_storeu_epi16(p, mask16(n), h);
}
inline void store_n(f16_t* p, VecF v, int n) {
  const __m256i h = _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  if (n >= 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
  else
    _mm256_mask_storeu_epi16(p, mask16(n), h);
}
inline void storeu(double* p, VecD v) { _mm512_storeu_pd(p, v.v); }
inline void store_n(double* p, VecD v, int n) {
  if (n >= 8)
    _mm512_storeu_pd(p, v.v);
  else
    _mm512_mask_storeu_pd(p, mask8(n), v.v);
}

// ---- scalar conversions (F16C, part of every AVX-512 CPU)
inline float to_f32(float x) { return x; }
inline float to_f32(bf16_t x) {
  uint32_t u = uint32_t(x.x) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
inline float to_f32(f16_t x) { return _cvtsh_ss(x.x); }
inline double to_f64(double x) { return x; }
inline void from_f32(float x, float* p) { *p = x; }
inline void from_f32(float x, bf16_t* p) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  p->x = (x != x) ? uint16_t(0x7FC0) : uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline void from_f32(float x, f16_t* p) {
  p->x = _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// ---- 16 x 16 transpose of 32-bit lanes: r[i] lane j <- r[j] lane i
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // r[4i + q] now holds, in each 128-bit lane L, rows 4i..4i+3 at column 4L + q
  for (int q = 0; q < 4; ++q) {
    const __m512 a = r[q], b = r[4 + q], c = r[8 + q], d = r[12 + q];
    const __m512 ab_lo = _mm512_shuffle_f32x4(a, b, 0x88);  // a.L0 a.L2 b.L0 b.L2
    const __m512 ab_hi = _mm512_shuffle_f32x4(a, b, 0xDD);  // a.L1 a.L3 b.L1 b.L3
    const __m512 cd_lo = _mm512_shuffle_f32x4(c, d, 0x88);
    const __m512 cd_hi = _mm512_shuffle_f32x4(c, d, 0xDD);
    t[q] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88);       // L0 of a b c d
    t[8 + q] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xDD);   // L2
    t[4 + q] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88);   // L1
    t[12 + q] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xDD);  // L3
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

inline void transpose_vecs(VecF* r) { transpose16(reinterpret_cast<__m512*>(r)); }
inline void transpose_vecs(VecD* v) {
  __m512d* r = reinterpret_cast<__m512d*>(v);
  __m512d t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  // t[2i + q], 128-bit lane L: rows 2i, 2i+1 at column 2L + q
  for (int q = 0; q < 2; ++q) {
    const __m512d a = t[q], b = t[2 + q], c = t[4 + q], d = t[6 + q];
    const __m512d ab_lo = _mm512_shuffle_f64x2(a, b, 0x88), ab_hi = _mm512_shuffle_f64x2(a, b, 0xDD);
    const __m512d cd_lo = _mm512_shuffle_f64x2(c, d, 0x88), cd_hi = _mm512_shuffle_f64x2(c, d, 0xDD);
    r[q] = _mm512_shuffle_f64x2(ab_lo, cd_lo, 0x88);
    r[4 + q] = _mm512_shuffle_f64x2(ab_lo, cd_lo, 0xDD);
    r[2 + q] = _mm512_shuffle_f64x2(ab_hi, cd_hi, 0x88);
    r[6 + q] = _mm512_shuffle_f64x2(ab_hi, cd_hi, 0xDD);
  }
}

// bf16 pair dot product: acc += a.even*b.even + a.odd*b.odd per fp32 lane
inline VecF dot_bf16(VecF acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc.v, (__m512bh)a, (__m512bh)b);
}

#include "simd_math.h"

}  // namespace TA_AVX512_NS
}  // namespace cpu
}  // namespace torch_act
