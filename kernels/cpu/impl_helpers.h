// torch_act — CPU kernels, part of kernels_impl.h: small helpers: min/max/round_up, typed loads and stores of any dtype.
// NOT a standalone header: kernels_impl.h includes it inside the ISA's
// namespace (torch_act::cpu::TA_ISA, anonymous), after the parts before it.
// ------------------------------------------------------------------ helpers
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

#define TA_INLINE inline __attribute__((always_inline))

template <class V>
TA_INLINE V load_any(const void* p, DT dt, int64_t idx, int n) {
  if constexpr (sizeof(typename V::Scalar) == 8) {
    return load_n(static_cast<const double*>(p) + idx, n);
  } else {
    switch (dt) {
      case DT::BF16: return load_n(static_cast<const bf16_t*>(p) + idx, n);
      case DT::F16: return load_n(static_cast<const f16_t*>(p) + idx, n);
      default: return load_n(static_cast<const float*>(p) + idx, n);
    }
  }
}

template <class V>
TA_INLINE void store_any(void* p, DT dt, int64_t idx, V v, int n) {
  if constexpr (sizeof(typename V::Scalar) == 8) {
    store_n(static_cast<double*>(p) + idx, v, n);
  } else {
    switch (dt) {
      case DT::BF16: store_n(static_cast<bf16_t*>(p) + idx, v, n); break;
      case DT::F16: store_n(static_cast<f16_t*>(p) + idx, v, n); break;
      default: store_n(static_cast<float*>(p) + idx, v, n); break;
    }
  }
}

inline float scalar_f32(const void* p, DT dt, int64_t idx) {
  switch (dt) {
    case DT::BF16: return to_f32(static_cast<const bf16_t*>(p)[idx]);
    case DT::F16: return to_f32(static_cast<const f16_t*>(p)[idx]);
    case DT::F64: return float(static_cast<const double*>(p)[idx]);
    default: return static_cast<const float*>(p)[idx];
  }
}

// Loads n (<= W) elements spaced `stride` apart (stride 1: a vector load).
template <class V, class T>
inline V load_strided(const T* p, int64_t stride, int n) {
  if (stride == 1) return load_n(p, n);
  typename V::Scalar buf[V::W];
  for (int i = 0; i < V::W; ++i) {
    if constexpr (sizeof(typename V::Scalar) == 8)
      buf[i] = i < n ? p[i * stride] : 0.0;
    else
      buf[i] = i < n ? to_f32(p[i * stride]) : 0.0f;
  }
  return load_n(buf, V::W);
}
