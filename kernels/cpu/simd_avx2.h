// torch_act — AVX2 + FMA vector types for the avx2 kernel TU (kernels_avx2.cpp
// only; that TU sets the target with #pragma GCC target before including this).
//
// VecF (8 x float), VecD (4 x double): operators, comparisons (masks are
// all-ones lanes), `where`, loads/stores/conversions (bf16 by integer
// rounding, fp16 by F16C), and the vector math of simd_math.h.
#pragma once

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernel_table.h"

namespace torch_act {
namespace cpu {
namespace avx2 {

// register tiles (rows x vectors): f32 6 x 16, f64 6 x 8 (12 accumulators of 16 registers)
constexpr int kMrF32 = 6, kNvF32 = 2, kMrF64 = 6, kNvF64 = 2;

struct MaskF {
  __m256 m;
};
struct MaskD {
  __m256d m;
};

struct VecF {
  static constexpr int W = 8;
  using Scalar = float;
  using Mask = MaskF;
  __m256 v;
  VecF() = default;
  VecF(__m256 x) : v(x) {}
  explicit VecF(double d) : v(_mm256_set1_ps(static_cast<float>(d))) {}
  static VecF zero() { return _mm256_setzero_ps(); }
  static VecF set1(float f) { return _mm256_set1_ps(f); }
  static MaskF first_n(int n);
};

struct VecD {
  static constexpr int W = 4;
  using Scalar = double;
  using Mask = MaskD;
  __m256d v;
  VecD() = default;
  VecD(__m256d x) : v(x) {}
  explicit VecD(double d) : v(_mm256_set1_pd(d)) {}
  static VecD zero() { return _mm256_setzero_pd(); }
  static VecD set1(double f) { return _mm256_set1_pd(f); }
  static MaskD first_n(int n);
};

// ---- float
inline VecF operator+(VecF a, VecF b) { return _mm256_add_ps(a.v, b.v); }
inline VecF operator-(VecF a, VecF b) { return _mm256_sub_ps(a.v, b.v); }
inline VecF operator*(VecF a, VecF b) { return _mm256_mul_ps(a.v, b.v); }
inline VecF operator/(VecF a, VecF b) { return _mm256_div_ps(a.v, b.v); }
inline VecF operator-(VecF a) { return _mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f)); }
inline MaskF operator<(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
inline MaskF operator<=(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)}; }
inline MaskF operator>(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
inline MaskF operator>=(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
inline MaskF operator==(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ)}; }
inline MaskF operator!=(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_NEQ_UQ)}; }
inline MaskF operator&(MaskF a, MaskF b) { return {_mm256_and_ps(a.m, b.m)}; }
inline MaskF operator|(MaskF a, MaskF b) { return {_mm256_or_ps(a.m, b.m)}; }
inline MaskF operator~(MaskF a) {
  return {_mm256_xor_ps(a.m, _mm256_castsi256_ps(_mm256_set1_epi32(-1)))};
}
inline VecF where(MaskF m, VecF a, VecF b) { return _mm256_blendv_ps(b.v, a.v, m.m); }
inline MaskF isnan(VecF a) { return {_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)}; }
inline VecF fmadd(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
inline VecF fnmadd(VecF a, VecF b, VecF c) { return _mm256_fnmadd_ps(a.v, b.v, c.v); }
inline VecF vmin(VecF a, VecF b) { return _mm256_min_ps(a.v, b.v); }
inline VecF vmax(VecF a, VecF b) { return _mm256_max_ps(a.v, b.v); }
inline VecF vabs(VecF a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v); }
inline VecF copysign_v(VecF mag, VecF sgn) {
  const __m256 s = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sgn.v));
}
inline VecF round_nearest(VecF a) {
  return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline VecF pow2i(VecF n) {
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
// y * 2^n for integral n in [-252, 252]: two exact power-of-two factors
inline VecF ldexp_v(VecF y, VecF n) {
  const __m256i ni = _mm256_cvtps_epi32(n.v);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i b = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, b), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, b), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y.v, s1), s2);
}
// finite normal u > 0 only
inline VecF frexp1(VecF u, VecF& e) {
  const __m256i i = _mm256_castps_si256(u.v);
  const __m256i be = _mm256_and_si256(_mm256_srli_epi32(i, 23), _mm256_set1_epi32(0xFF));
  e = _mm256_cvtepi32_ps(_mm256_sub_epi32(be, _mm256_set1_epi32(127)));
  const __m256i m = _mm256_or_si256(_mm256_and_si256(i, _mm256_set1_epi32(0x007FFFFF)),
                                    _mm256_set1_epi32(0x3F800000));
  return _mm256_castsi256_ps(m);
}
inline float hsum(VecF a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax(VecF a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- double
inline VecD operator+(VecD a, VecD b) { return _mm256_add_pd(a.v, b.v); }
inline VecD operator-(VecD a, VecD b) { return _mm256_sub_pd(a.v, b.v); }
inline VecD operator*(VecD a, VecD b) { return _mm256_mul_pd(a.v, b.v); }
inline VecD operator/(VecD a, VecD b) { return _mm256_div_pd(a.v, b.v); }
inline VecD operator-(VecD a) { return _mm256_xor_pd(a.v, _mm256_set1_pd(-0.0)); }
inline MaskD operator<(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ)}; }
inline MaskD operator<=(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LE_OQ)}; }
inline MaskD operator>(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ)}; }
inline MaskD operator>=(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_GE_OQ)}; }
inline MaskD operator==(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_EQ_OQ)}; }
inline MaskD operator!=(VecD a, VecD b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_NEQ_UQ)}; }
inline MaskD operator&(MaskD a, MaskD b) { return {_mm256_and_pd(a.m, b.m)}; }
inline MaskD operator|(MaskD a, MaskD b) { return {_mm256_or_pd(a.m, b.m)}; }
inline MaskD operator~(MaskD a) {
  return {_mm256_xor_pd(a.m, _mm256_castsi256_pd(_mm256_set1_epi32(-1)))};
}
inline VecD where(MaskD m, VecD a, VecD b) { return _mm256_blendv_pd(b.v, a.v, m.m); }
inline MaskD isnan(VecD a) { return {_mm256_cmp_pd(a.v, a.v, _CMP_UNORD_Q)}; }
// lane i of a mask <-> bit i of an integer (save="mask" bits)
inline unsigned bits_of(MaskF m) { return unsigned(_mm256_movemask_ps(m.m)); }
inline unsigned bits_of(MaskD m) { return unsigned(_mm256_movemask_pd(m.m)); }
template <class M>
inline M mask_of_bits(unsigned b);
template <>
inline MaskF mask_of_bits<MaskF>(unsigned b) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return {_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(b)), sel), sel))};
}
template <>
inline MaskD mask_of_bits<MaskD>(unsigned b) {
  const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
  return {_mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(b), sel), sel))};
}
inline VecD fmadd(VecD a, VecD b, VecD c) { return _mm256_fmadd_pd(a.v, b.v, c.v); }
inline VecD fnmadd(VecD a, VecD b, VecD c) { return _mm256_fnmadd_pd(a.v, b.v, c.v); }
inline VecD vmin(VecD a, VecD b) { return _mm256_min_pd(a.v, b.v); }
inline VecD vmax(VecD a, VecD b) { return _mm256_max_pd(a.v, b.v); }
inline VecD vabs(VecD a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v); }
inline VecD copysign_v(VecD mag, VecD sgn) {
  const __m256d s = _mm256_set1_pd(-0.0);
  return _mm256_or_pd(_mm256_andnot_pd(s, mag.v), _mm256_and_pd(s, sgn.v));
}
inline VecD round_nearest(VecD a) {
  return _mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline __m256i f64_to_i64(__m256d n) {  // integral n, |n| < 2^31
  return _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
}
inline VecD pow2i(VecD n) {
  const __m256i e = _mm256_add_epi64(f64_to_i64(n.v), _mm256_set1_epi64x(1023));
  return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
}
// y * 2^n for integral n in [-2044, 2044]
inline VecD ldexp_v(VecD y, VecD n) {
  const __m256i ni = f64_to_i64(n.v);
  // arithmetic >> 1 on 64-bit lanes: (ni + (ni < 0)) ... use the 32-bit path
  const __m128i n32 = _mm256_cvtpd_epi32(n.v);
  const __m128i h1 = _mm_srai_epi32(n32, 1);
  const __m256i n1 = _mm256_cvtepi32_epi64(h1);
  const __m256i n2 = _mm256_sub_epi64(ni, n1);
  const __m256i b = _mm256_set1_epi64x(1023);
  const __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(n1, b), 52));
  const __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(n2, b), 52));
  return _mm256_mul_pd(_mm256_mul_pd(y.v, s1), s2);
}
inline VecD frexp1(VecD u, VecD& e) {
  const __m256i i = _mm256_castpd_si256(u.v);
  const __m256i be = _mm256_and_si256(_mm256_srli_epi64(i, 52), _mm256_set1_epi64x(0x7FF));
  // exact int -> double for 0 <= be < 2^52: bits(be | 2^52 exponent) - 2^52
  const __m256d magic = _mm256_castsi256_pd(_mm256_set1_epi64x(0x4330000000000000LL));
  const __m256d bed = _mm256_sub_pd(
      _mm256_castsi256_pd(_mm256_or_si256(be, _mm256_castpd_si256(magic))), magic);
  e = _mm256_sub_pd(bed, _mm256_set1_pd(1023.0));
  const __m256i m = _mm256_or_si256(_mm256_and_si256(i, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
                                    _mm256_set1_epi64x(0x3FF0000000000000LL));
  return _mm256_castsi256_pd(m);
}
inline double hsum(VecD a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}
inline double hmax(VecD a) {
  __m128d s = _mm_max_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  s = _mm_max_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// ---- loads / stores (n valid lanes; masked lanes never touched)
inline __m256i lane_mask8(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256i lane_mask4x64(int n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}
inline __m128i load16x8(const uint16_t* p, int n) {
  if (n >= 8) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) t[i] = p[i];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}
inline void store16x8(uint16_t* p, __m128i h, int n) {
  if (n >= 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
    return;
  }
  alignas(16) uint16_t t[8];
  _mm_store_si128(reinterpret_cast<__m128i*>(t), h);
  for (int i = 0; i < n; ++i) p[i] = t[i];
}
inline MaskF VecF::first_n(int n) { return {_mm256_castsi256_ps(lane_mask8(n))}; }
inline MaskD VecD::first_n(int n) { return {_mm256_castsi256_pd(lane_mask4x64(n))}; }

inline VecF bf16_to_f32(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline __m128i f32_to_bf16(VecF x) {
  const __m256i u = _mm256_castps_si256(x.v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  r = _mm256_srli_epi32(r, 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x.v, x.v, _CMP_UNORD_Q));
  r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7FC0), nan);
  const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  return _mm256_castsi256_si128(p);
}

inline VecF loadu(const float* p) { return _mm256_loadu_ps(p); }
inline VecF load_n(const float* p, int n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask8(n));
}
inline VecF load_n(const bf16_t* p, int n) {
  return bf16_to_f32(load16x8(reinterpret_cast<const uint16_t*>(p), n));
}
inline VecF load_n(const f16_t* p, int n) {
  return _mm256_cvtph_ps(load16x8(reinterpret_cast<const uint16_t*>(p), n));
}
inline VecD loadu(const double* p) { return _mm256_loadu_pd(p); }
inline VecD load_n(const double* p, int n) {
  return n >= 4 ? _mm256_loadu_pd(p) : _mm256_maskload_pd(p, lane_mask4x64(n));
}
inline void storeu(float* p, VecF v) { _mm256_storeu_ps(p, v.v); }
inline void store_n(float* p, VecF v, int n) {
  if (n >= 8)
    _mm256_storeu_ps(p, v.v);
  else
    _mm256_maskstore_ps(p, lane_mask8(n), v.v);
}
inline void store_n(bf16_t* p, VecF v, int n) {
  store16x8(reinterpret_cast<uint16_t*>(p), f32_to_bf16(v), n);
}
inline void store_n(f16_t* p, VecF v, int n) {
  store16x8(reinterpret_cast<uint16_t*>(p),
            _mm256_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), n);
}
inline void storeu(double* p, VecD v) { _mm256_storeu_pd(p, v.v); }
inline void store_n(double* p, VecD v, int n) {
  if (n >= 4)
    _mm256_storeu_pd(p, v.v);
  else
    _mm256_maskstore_pd(p, lane_mask4x64(n), v.v);
}

// ---- scalar conversions (F16C)
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

// 8 x 8 transpose of 32-bit lanes
inline void transpose8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 2; ++i) {
    const __m256d a = _mm256_castps_pd(t[4 * i]), b = _mm256_castps_pd(t[4 * i + 2]);
    const __m256d c = _mm256_castps_pd(t[4 * i + 1]), d = _mm256_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, b));
    u[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, b));
    u[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(c, d));
    u[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(c, d));
  }
  // u[4i + q], 128-bit lane L: rows 4i..4i+3 at column 4L + q
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

inline void transpose_vecs(VecF* r) { transpose8(reinterpret_cast<__m256*>(r)); }
inline void transpose_vecs(VecD* v) {
  __m256d* r = reinterpret_cast<__m256d*>(v);
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

#include "simd_math.h"

}  // namespace avx2
}  // namespace cpu
}  // namespace torch_act
