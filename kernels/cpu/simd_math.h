// torch_act — vectorised exp / expm1 / log / log1p / tanh / erf / sin / cos, written once
// against a small set of vector primitives.  NOT a standalone header: each SIMD
// header (simd_avx512.h, simd_avx2.h) includes it inside its own ISA namespace
// after defining VecF / VecD and the primitives
//   + - * / unary-, < <= > >= == != (!= is unordered), where, isnan,
//   fmadd(a,b,c)=a*b+c, fnmadd(a,b,c)=c-a*b, vmin, vmax, vabs, copysign_v,
//   round_nearest, ldexp_v(y,n)=y*2^n (n integral, any range),
//   pow2i(n)=2^n (n integral, normal range), frexp1(u,e): u=m*2^e, m in [1,2).
// so every function here gets the ISA's own (unique) namespace.
//
// Accuracy (measured against double / mpmath over the float range): exp, expm1,
// log1p <= 2 ulp, tanh <= 3 ulp, erf <= 2 ulp.  Special values follow C99:
// NaN propagates; exp(-inf)=0, exp(inf)=inf, expm1(-inf)=-1, log1p(-1)=-inf,
// log1p(x<-1)=NaN, tanh(+-inf)=+-1, erf(+-inf)=+-1.
// The double versions use the same structure with longer (Taylor)
// polynomials; erf in double goes lane by lane through libm's erf.

// ------------------------------------------------------------------ float
inline VecF exp_v(VecF x) {
  const VecF xc = vmin(vmax(x, VecF::set1(-104.0f)), VecF::set1(88.8f));
  const VecF n = round_nearest(xc * VecF::set1(1.44269504088896341f));
  VecF r = fnmadd(n, VecF::set1(0.693359375f), xc);
  r = fnmadd(n, VecF::set1(-2.12194440e-4f), r);
  VecF p = VecF::set1(1.9875691500E-4f);
  p = fmadd(p, r, VecF::set1(1.3981999507E-3f));
  p = fmadd(p, r, VecF::set1(8.3334519073E-3f));
  p = fmadd(p, r, VecF::set1(4.1665795894E-2f));
  p = fmadd(p, r, VecF::set1(1.6666665459E-1f));
  p = fmadd(p, r, VecF::set1(5.0000001201E-1f));
  const VecF y = fmadd(p, r * r, r) + VecF::set1(1.0f);
  return where(isnan(x), x, ldexp_v(y, n));
}

// exp for finite x in [-87, 0] (no clamping / NaN handling): erf's tail.
inline VecF exp_neg_finite(VecF x) {
  const VecF n = round_nearest(x * VecF::set1(1.44269504088896341f));
  VecF r = fnmadd(n, VecF::set1(0.693359375f), x);
  r = fnmadd(n, VecF::set1(-2.12194440e-4f), r);
  VecF p = VecF::set1(1.9875691500E-4f);
  p = fmadd(p, r, VecF::set1(1.3981999507E-3f));
  p = fmadd(p, r, VecF::set1(8.3334519073E-3f));
  p = fmadd(p, r, VecF::set1(4.1665795894E-2f));
  p = fmadd(p, r, VecF::set1(1.6666665459E-1f));
  p = fmadd(p, r, VecF::set1(5.0000001201E-1f));
  return (fmadd(p, r * r, r) + VecF::set1(1.0f)) * pow2i(n);
}

// expm1 = 2^n (em + 1) - 1 = 2 (2^(n-1) em + (2^(n-1) - 1/2)): both terms exact
inline VecF expm1_v(VecF x) {
  const VecF xc = vmin(vmax(x, VecF::set1(-18.0f)), VecF::set1(88.8f));
  const VecF n = round_nearest(xc * VecF::set1(1.44269504088896341f));
  VecF r = fnmadd(n, VecF::set1(0.693359375f), xc);
  r = fnmadd(n, VecF::set1(-2.12194440e-4f), r);
  VecF q = VecF::set1(1.0f / 40320.0f);
  q = fmadd(q, r, VecF::set1(1.0f / 5040.0f));
  q = fmadd(q, r, VecF::set1(1.0f / 720.0f));
  q = fmadd(q, r, VecF::set1(1.0f / 120.0f));
  q = fmadd(q, r, VecF::set1(1.0f / 24.0f));
  q = fmadd(q, r, VecF::set1(1.0f / 6.0f));
  q = fmadd(q, r, VecF::set1(0.5f));
  const VecF em = fmadd(q, r * r, r);
  const VecF t = pow2i(n - VecF::set1(1.0f));
  const VecF res = VecF::set1(2.0f) * fmadd(t, em, t - VecF::set1(0.5f));
  return where(isnan(x), x, res);
}

// natural log for finite u > 0 (specials handled by callers / log_v)
inline VecF log_pos(VecF u) {
  VecF e;
  VecF m = frexp1(u, e);
  const auto big = m > VecF::set1(1.41421356237f);
  m = where(big, m * VecF::set1(0.5f), m);
  e = where(big, e + VecF::set1(1.0f), e);
  const VecF f = m - VecF::set1(1.0f);
  const VecF z = f * f;
  VecF y = VecF::set1(7.0376836292E-2f);
  y = fmadd(y, f, VecF::set1(-1.1514610310E-1f));
  y = fmadd(y, f, VecF::set1(1.1676998740E-1f));
  y = fmadd(y, f, VecF::set1(-1.2420140846E-1f));
  y = fmadd(y, f, VecF::set1(1.4249322787E-1f));
  y = fmadd(y, f, VecF::set1(-1.6668057665E-1f));
  y = fmadd(y, f, VecF::set1(2.0000714765E-1f));
  y = fmadd(y, f, VecF::set1(-2.4999993993E-1f));
  y = fmadd(y, f, VecF::set1(3.3333331174E-1f));
  y = y * f * z;
  y = fmadd(e, VecF::set1(-2.12194440e-4f), y);
  y = fnmadd(z, VecF::set1(0.5f), y);
  return fmadd(e, VecF::set1(0.693359375f), f + y);
}

inline VecF log_v(VecF u) {
  const VecF inf = VecF::set1(__builtin_inff());
  VecF r = log_pos(where(u > VecF::zero(), u, VecF::set1(1.0f)));
  r = where(u == VecF::zero(), -inf, r);
  r = where(u == inf, inf, r);
  return where((u < VecF::zero()) | isnan(u), VecF::set1(__builtin_nanf("")), r);
}

// log1p(x) = log(u) + (x - (u - 1)) / u,  u = 1 + x rounded
inline VecF log1p_v(VecF x) {
  const VecF one = VecF::set1(1.0f), inf = VecF::set1(__builtin_inff());
  const VecF u = x + one;
  const auto ok = (u > VecF::zero()) & (u < inf);
  const VecF us = where(ok, u, one);
  VecF r = log_pos(us) + (x - (us - one)) / us;
  r = where(u == VecF::zero(), -inf, r);
  r = where(u == inf, inf, r);
  return where((u < VecF::zero()) | isnan(x), VecF::set1(__builtin_nanf("")) + x, r);
}

// tanh(x) = sign(x) t / (t + 2),  t = expm1(2|x|)
inline VecF tanh_v(VecF x) {
  const VecF a = vmin(vabs(x), VecF::set1(9.0f));
  const VecF t = expm1_v(a + a);
  const VecF y = t / (t + VecF::set1(2.0f));
  return where(isnan(x), x, copysign_v(y, x));
}

// erf: |x| < 1: x P(x^2);  1 <= |x| < 3.92: 1 - exp(Q(|x|)), Q ~ log(erfc);
// beyond: +-1.  (Coefficients: weighted least-squares fits, ~1.7 ulp.)
inline VecF erf_v(VecF x) {
  const VecF a = vabs(x);
  const VecF u = x * x;
  VecF p = VecF::set1(7.816595968878864e-05f);
  p = fmadd(p, u, VecF::set1(-0.0007998255682948905f));
  p = fmadd(p, u, VecF::set1(0.0051868660324784314f));
  p = fmadd(p, u, VecF::set1(-0.02685296222893369f));
  p = fmadd(p, u, VecF::set1(0.11283561636620816f));
  p = fmadd(p, u, VecF::set1(-0.3761262316836305f));
  p = fmadd(p, u, VecF::set1(1.1283791649979726f));
  const VecF small = x * p;
  const VecF ac = vmin(vmax(a, VecF::set1(1.0f)), VecF::set1(3.92f));
  const VecF t = fmadd(ac, VecF::set1(float(1.0 / 1.46)), VecF::set1(float(-2.46 / 1.46)));
  VecF q = VecF::set1(2.457383316095914e-05f);
  q = fmadd(q, t, VecF::set1(0.00010524597103935366f));
  q = fmadd(q, t, VecF::set1(-0.00013306443742979525f));
  q = fmadd(q, t, VecF::set1(0.0007854086166391173f));
  q = fmadd(q, t, VecF::set1(-0.002938349683419072f));
  q = fmadd(q, t, VecF::set1(0.010219172509228875f));
  q = fmadd(q, t, VecF::set1(-0.03489254536823186f));
  q = fmadd(q, t, VecF::set1(-2.0091810489827187f));
  q = fmadd(q, t, VecF::set1(-7.704743894407381f));
  q = fmadd(q, t, VecF::set1(-7.594217568087547f));
  VecF big = VecF::set1(1.0f) - exp_neg_finite(q);  // q in [-17.6, -1.8]
  big = where(a >= VecF::set1(3.92f), VecF::set1(1.0f), big);
  const VecF r = where(a < VecF::set1(1.0f), small, copysign_v(big, x));
  return where(isnan(x), x, r);
}


// Phi(z) = erfc(-z / sqrt 2) / 2, the standard normal CDF (gelu's factor), as
// one branch-free expression instead of erf_v's two ranges: with x = |z|/sqrt 2,
// t = 1 / (1 + p x), E = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2) ~ erfc(x)
// (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), Phi = 1 - E/2 for z >= 0,
// E/2 below: no 1 + erf cancellation in the lower tail. E is 0 for x >= 9
// (erfc(9) < 1e-36), so gelu(-inf) = -inf * 0 = NaN as torch's.
inline VecF ndtr_v(VecF z) {
  const VecF x = vabs(z) * VecF::set1(0.70710678118654752f);
  const VecF xc = vmin(x, VecF::set1(9.0f));
  const VecF t = VecF::set1(1.0f) / fmadd(xc, VecF::set1(0.3275911f), VecF::set1(1.0f));
  VecF p = VecF::set1(1.061405429f);
  p = fmadd(p, t, VecF::set1(-1.453152027f));
  p = fmadd(p, t, VecF::set1(1.421413741f));
  p = fmadd(p, t, VecF::set1(-0.284496736f));
  p = fmadd(p, t, VecF::set1(0.254829592f));
  VecF half_e = p * t * exp_neg_finite(fnmadd(xc, xc, VecF::zero())) * VecF::set1(0.5f);
  half_e = where(x >= VecF::set1(9.0f), VecF::zero(), half_e);
  const VecF r = where(z >= VecF::zero(), VecF::set1(1.0f) - half_e, half_e);
  return where(isnan(z), z, r);
}

// sin / cos: x = j (pi/2) + r with a three-part pi/2 (exact for |j| < 2^15),
// minimax polynomials on |r| <= pi/4 (cephes), the quadrant j mod 4 picks
// +-sin / +-cos.  Lanes beyond |x| = 16384 (where the reduction loses bits)
// go through libm one by one.  <= 2 ulp on the reduced range; NaN and +-inf give NaN.
inline VecF sincos_reduced(VecF x, bool cosine) {
  const VecF j = round_nearest(x * VecF::set1(0.636619772367581343f));
  VecF r = fnmadd(j, VecF::set1(1.5703125f), x);
  r = fnmadd(j, VecF::set1(4.837512969970703125e-4f), r);
  r = fnmadd(j, VecF::set1(7.549789948768648e-8f), r);
  const VecF r2 = r * r;
  VecF ps = VecF::set1(-1.9515295891e-4f);
  ps = fmadd(ps, r2, VecF::set1(8.3321608736e-3f));
  ps = fmadd(ps, r2, VecF::set1(-1.6666654611e-1f));
  const VecF sn = fmadd(ps * r2, r, r);
  VecF pc = VecF::set1(2.443315711809948e-5f);
  pc = fmadd(pc, r2, VecF::set1(-1.388731625493765e-3f));
  pc = fmadd(pc, r2, VecF::set1(4.166664568298827e-2f));
  const VecF cs = fmadd(pc * r2, r2, fnmadd(VecF::set1(0.5f), r2, VecF::set1(1.0f)));
  // q = (j + cosine) mod 4, as a float in {0, 1, 2, 3}
  const VecF jq = cosine ? j + VecF::set1(1.0f) : j;
  VecF f = round_nearest(jq * VecF::set1(0.25f));
  f = where(f * VecF::set1(4.0f) > jq, f - VecF::set1(1.0f), f);
  const VecF q = jq - f * VecF::set1(4.0f);
  const VecF odd = where(q == VecF::set1(1.0f), cs, where(q == VecF::set1(3.0f), -cs, VecF::zero()));
  return where(q == VecF::zero(), sn, where(q == VecF::set1(2.0f), -sn, odd));
}

template <class F>
inline VecF lanewise(VecF x, F f) {
  float buf[VecF::W];
  storeu(buf, x);
  for (int i = 0; i < VecF::W; ++i) buf[i] = f(buf[i]);
  return loadu(buf);
}

// The largest |x| of the vector, a NaN lane counting as infinite (hmax may
// drop NaNs, and the reduction would turn one into 0).
inline float abs_max_nan_inf(VecF x) {
  return hmax(where(x != x, VecF::set1(__builtin_inff()), vabs(x)));
}
inline VecF sin_v(VecF x) {
  if (!(abs_max_nan_inf(x) <= 16384.0f)) return lanewise(x, [](float v) { return ::sinf(v); });
  return sincos_reduced(x, false);
}
inline VecF cos_v(VecF x) {
  if (!(abs_max_nan_inf(x) <= 16384.0f)) return lanewise(x, [](float v) { return ::cosf(v); });
  return sincos_reduced(x, true);
}
inline VecF sqrt_v(VecF x) { return lanewise(x, [](float v) { return ::sqrtf(v); }); }

// ------------------------------------------------------------------ double
inline VecD exp_v(VecD x) {
  const VecD xc = vmin(vmax(x, VecD::set1(-746.0)), VecD::set1(710.0));
  const VecD n = round_nearest(xc * VecD::set1(1.4426950408889634074));
  VecD r = fnmadd(n, VecD::set1(6.93147180369123816490e-01), xc);
  r = fnmadd(n, VecD::set1(1.90821492927058770002e-10), r);
  // e^r = 1 + r + r^2 (1/2! + r/3! + ... + r^11/13!)
  VecD p = VecD::set1(1.0 / 6227020800.0);
  p = fmadd(p, r, VecD::set1(1.0 / 479001600.0));
  p = fmadd(p, r, VecD::set1(1.0 / 39916800.0));
  p = fmadd(p, r, VecD::set1(1.0 / 3628800.0));
  p = fmadd(p, r, VecD::set1(1.0 / 362880.0));
  p = fmadd(p, r, VecD::set1(1.0 / 40320.0));
  p = fmadd(p, r, VecD::set1(1.0 / 5040.0));
  p = fmadd(p, r, VecD::set1(1.0 / 720.0));
  p = fmadd(p, r, VecD::set1(1.0 / 120.0));
  p = fmadd(p, r, VecD::set1(1.0 / 24.0));
  p = fmadd(p, r, VecD::set1(1.0 / 6.0));
  p = fmadd(p, r, VecD::set1(0.5));
  const VecD y = fmadd(p, r * r, r) + VecD::set1(1.0);
  return where(isnan(x), x, ldexp_v(y, n));
}

inline VecD expm1_v(VecD x) {
  const VecD xc = vmin(vmax(x, VecD::set1(-40.0)), VecD::set1(710.0));
  const VecD n = round_nearest(xc * VecD::set1(1.4426950408889634074));
  VecD r = fnmadd(n, VecD::set1(6.93147180369123816490e-01), xc);
  r = fnmadd(n, VecD::set1(1.90821492927058770002e-10), r);
  VecD q = VecD::set1(1.0 / 6227020800.0);
  q = fmadd(q, r, VecD::set1(1.0 / 479001600.0));
  q = fmadd(q, r, VecD::set1(1.0 / 39916800.0));
  q = fmadd(q, r, VecD::set1(1.0 / 3628800.0));
  q = fmadd(q, r, VecD::set1(1.0 / 362880.0));
  q = fmadd(q, r, VecD::set1(1.0 / 40320.0));
  q = fmadd(q, r, VecD::set1(1.0 / 5040.0));
  q = fmadd(q, r, VecD::set1(1.0 / 720.0));
  q = fmadd(q, r, VecD::set1(1.0 / 120.0));
  q = fmadd(q, r, VecD::set1(1.0 / 24.0));
  q = fmadd(q, r, VecD::set1(1.0 / 6.0));
  q = fmadd(q, r, VecD::set1(0.5));
  const VecD em = fmadd(q, r * r, r);
  // n <= 1025 here; split the power so 2^(n-1) stays finite up to n = 1024
  const VecD t = pow2i(vmin(n, VecD::set1(1024.0)) - VecD::set1(1.0));
  const VecD res = VecD::set1(2.0) * fmadd(t, em, t - VecD::set1(0.5));
  const VecD inf = VecD::set1(__builtin_inf());
  return where(isnan(x), x, where(xc >= VecD::set1(709.79), inf, res));
}

// fdlibm-style: m = 1 + f, s = f / (2 + f), log(m) = f - (hfsq - s (hfsq + R(s^2)))
inline VecD log_pos(VecD u) {
  VecD e;
  VecD m = frexp1(u, e);
  const auto big = m > VecD::set1(1.4142135623730951);
  m = where(big, m * VecD::set1(0.5), m);
  e = where(big, e + VecD::set1(1.0), e);
  const VecD f = m - VecD::set1(1.0);
  const VecD s = f / (VecD::set1(2.0) + f);
  const VecD z = s * s;
  VecD R = VecD::set1(2.0 / 21.0);
  R = fmadd(R, z, VecD::set1(2.0 / 19.0));
  R = fmadd(R, z, VecD::set1(2.0 / 17.0));
  R = fmadd(R, z, VecD::set1(2.0 / 15.0));
  R = fmadd(R, z, VecD::set1(2.0 / 13.0));
  R = fmadd(R, z, VecD::set1(2.0 / 11.0));
  R = fmadd(R, z, VecD::set1(2.0 / 9.0));
  R = fmadd(R, z, VecD::set1(2.0 / 7.0));
  R = fmadd(R, z, VecD::set1(2.0 / 5.0));
  R = fmadd(R, z, VecD::set1(2.0 / 3.0));
  R = R * z;
  const VecD hfsq = VecD::set1(0.5) * f * f;
  const VecD lo = fmadd(e, VecD::set1(1.90821492927058770002e-10), s * (hfsq + R));
  return fmadd(e, VecD::set1(6.93147180369123816490e-01), f - (hfsq - lo));
}

inline VecD log_v(VecD u) {
  const VecD inf = VecD::set1(__builtin_inf());
  VecD r = log_pos(where(u > VecD::zero(), u, VecD::set1(1.0)));
  r = where(u == VecD::zero(), -inf, r);
  r = where(u == inf, inf, r);
  return where((u < VecD::zero()) | isnan(u), VecD::set1(__builtin_nan("")), r);
}

inline VecD log1p_v(VecD x) {
  const VecD one = VecD::set1(1.0), inf = VecD::set1(__builtin_inf());
  const VecD u = x + one;
  const auto ok = (u > VecD::zero()) & (u < inf);
  const VecD us = where(ok, u, one);
  VecD r = log_pos(us) + (x - (us - one)) / us;
  r = where(u == VecD::zero(), -inf, r);
  r = where(u == inf, inf, r);
  return where((u < VecD::zero()) | isnan(x), VecD::set1(__builtin_nan("")) + x, r);
}

inline VecD tanh_v(VecD x) {
  const VecD a = vmin(vabs(x), VecD::set1(20.0));
  const VecD t = expm1_v(a + a);
  const VecD y = t / (t + VecD::set1(2.0));
  return where(isnan(x), x, copysign_v(y, x));
}

inline VecD erf_v(VecD x) {
  double buf[VecD::W];
  storeu(buf, x);
  for (int i = 0; i < VecD::W; ++i) buf[i] = ::erf(buf[i]);
  return loadu(buf);
}


template <class F>
inline VecD lanewise(VecD x, F f) {
  double buf[VecD::W];
  storeu(buf, x);
  for (int i = 0; i < VecD::W; ++i) buf[i] = f(buf[i]);
  return loadu(buf);
}
// double sin / cos / sqrt: libm lane by lane (exact rounding where libm is)
inline VecD sin_v(VecD x) { return lanewise(x, [](double v) { return ::sin(v); }); }
inline VecD cos_v(VecD x) { return lanewise(x, [](double v) { return ::cos(v); }); }
inline VecD sqrt_v(VecD x) { return lanewise(x, [](double v) { return ::sqrt(v); }); }

// ------------------------------------------------- the t_* overloads (ADL)
inline VecF t_exp(VecF x) { return exp_v(x); }
inline VecF t_expm1(VecF x) { return expm1_v(x); }
inline VecF t_log1p(VecF x) { return log1p_v(x); }
inline VecF t_tanh(VecF x) { return tanh_v(x); }
inline VecF t_erf(VecF x) { return erf_v(x); }
inline VecD t_exp(VecD x) { return exp_v(x); }
inline VecD t_expm1(VecD x) { return expm1_v(x); }
inline VecD t_log1p(VecD x) { return log1p_v(x); }
inline VecD t_tanh(VecD x) { return tanh_v(x); }
inline VecD t_erf(VecD x) { return erf_v(x); }
inline VecF t_ndtr(VecF x) { return ndtr_v(x); }
// double: libm's erfc lane by lane (exact where libm is)
inline VecD t_ndtr(VecD x) { return lanewise(x, [](double v) { return 0.5 * ::erfc(-v * 0.70710678118654752440); }); }
inline VecF t_log(VecF x) { return log_v(x); }
inline VecD t_log(VecD x) { return log_v(x); }
inline VecF t_abs(VecF x) { return vabs(x); }
inline VecD t_abs(VecD x) { return vabs(x); }
inline VecF t_sin(VecF x) { return sin_v(x); }
inline VecD t_sin(VecD x) { return sin_v(x); }
inline VecF t_cos(VecF x) { return cos_v(x); }
inline VecD t_cos(VecD x) { return cos_v(x); }
inline VecF t_sqrt(VecF x) { return sqrt_v(x); }
inline VecD t_sqrt(VecD x) { return sqrt_v(x); }
