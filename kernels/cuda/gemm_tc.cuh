// torch_act — tensor-core GEMM (mma.sync) with the fused bias + activation
// epilogue; included by gemm_tc_f16.cu, gemm_tc_bf16.cu, gemm_tc_tf32.cu,
// which instantiate it for one dtype each.
//
// Computes C = act(A . B^T + bias), A [M, K], B [N, K], fp32 accumulation:
// fp16 / bf16 with mma.m16n8k16, fp32 as TF32 with mma.m16n8k8 (operands
// rounded with cvt.rna.tf32).
// Tiling: a block computes a BM x BN tile (128x128 with 8 warps as 2x4, warp
// tile 64x32, or 64x64 with 4 warps as 2x2, warp tile 32x32, chosen when the
// big tiles would not fill the GPU); K advances in 64-byte slices (BK = 32
// half or 16 float) through a 3- or 4-stage cp.async pipeline (16-byte
// copies, zero-filled outside the matrix, so any M/N/K works).  Shared tiles
// are padded by 16 bytes per row, which keeps ldmatrix and the fragment
// loads free of bank conflicts.  Each operand is K-major (loaded as
// [rows][BK], fragments with ldmatrix) or MN-major (loaded as [BK][rows],
// fragments with ldmatrix.trans; TF32 uses 32-bit shared loads for both);
// the 4 layout pairs are template parameters.  Blocks are rasterised in
// groups of 8 row-tiles for L2 reuse.  The epilogue is epilogue.cuh.
// Speed: mma.sync peaks at roughly 60-70% of an H100's dense tensor rate
// (wgmma is needed beyond that); at small M the kernel is bound by reading
// B once (64 blocks of 64x64 for M=64, N=4096), and there is no split-K.
#pragma once

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "gemm.cuh"

namespace torch_act {
namespace cuda {
namespace tc {

// ------------------------------------------------------------------ PTX
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy global -> shared; bytes < 16 copies that many and zero-fills the rest.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
#endif
  return r;
}

// Per-dtype: the K slice per stage (64 bytes), the MMA's k, and the MMA itself.
template <class T> struct Mma;
template <> struct Mma<c10::Half> {
  static constexpr int kBK = 32, kK = 16;
  __device__ __forceinline__ static void run(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};
template <> struct Mma<c10::BFloat16> {
  static constexpr int kBK = 32, kK = 16;
  __device__ __forceinline__ static void run(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};
template <> struct Mma<float> {  // TF32
  static constexpr int kBK = 16, kK = 8;
  __device__ __forceinline__ static void run(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
  }
};

// ------------------------------------------------------------------ config
template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int STAGES_, int MIN_BLOCKS_>
struct Cfg {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
  static constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile must be a multiple of 16x16");
};
using CfgBig = Cfg<128, 128, 2, 4, 3, 2>;
using CfgSmall = Cfg<64, 64, 2, 2, 4, 4>;
static_assert(CfgBig::BM == kTcBigBM && CfgBig::BN == kTcBigBN && CfgSmall::BN == kTcSmallBN,
              "gemm.cuh's tile constants (tc_big_tiles, linear_glu's interleave) must match");

// Shared-memory geometry of one (dtype, layouts, config).
template <class T, bool AK, bool BK, class C>
struct Geo {
  static constexpr int BKE = Mma<T>::kBK;           // K elements per stage
  static constexpr int VEC = 16 / sizeof(T);         // elements per 16-byte copy
  static constexpr int PAD_K = VEC;                  // 16 bytes per K-major row
  static constexpr int PAD_MN = 8;                   // 8 elements per MN-major row
  static constexpr int LDA = AK ? BKE + PAD_K : C::BM + PAD_MN;
  static constexpr int LDB = BK ? BKE + PAD_K : C::BN + PAD_MN;
  static constexpr int A_TILE = AK ? C::BM * LDA : BKE * LDA;  // elements
  static constexpr int B_TILE = BK ? C::BN * LDB : BKE * LDB;
  static constexpr int STAGE = A_TILE + B_TILE;
  static constexpr int LDS = C::BN + 8;  // fp32 staging tile row (conflict-free float2 stores)
  static constexpr size_t kMainBytes = static_cast<size_t>(C::STAGES) * STAGE * sizeof(T);
  static constexpr size_t kStageBytes = static_cast<size_t>(C::BM) * LDS * sizeof(float);
  static constexpr size_t kSmem = kMainBytes > kStageBytes ? kMainBytes : kStageBytes;
  static_assert((A_TILE * sizeof(T)) % 16 == 0 && (STAGE * sizeof(T)) % 16 == 0, "16-byte aligned tiles");
};

// Copies one operand's [ROWS x BKE] slice (k0..k0+BKE) into shared memory.
template <class T, bool KMAJ, int ROWS, int LD, int THREADS>
__device__ __forceinline__ void load_tile(T* s, const T* g, int64_t ld, int64_t row0, int64_t R,
                                          int64_t k0, int64_t K, int tid) {
  constexpr int BKE = Mma<T>::kBK, VEC = 16 / sizeof(T);
  constexpr int CHUNKS = ROWS * BKE / VEC;
  static_assert(CHUNKS % THREADS == 0, "tile copy must divide evenly");
#pragma unroll
  for (int i = 0; i < CHUNKS / THREADS; ++i) {
    const int c = tid + i * THREADS;
    int sr, sc;         // shared row / column of the chunk
    int64_t gr, gk;     // global row / k of its first element
    int64_t rem;        // elements left along the chunk's contiguous dim
    bool inside;
    if constexpr (KMAJ) {
      constexpr int CPR = BKE / VEC;
      sr = c / CPR;
      sc = (c % CPR) * VEC;
      gr = row0 + sr;
      gk = k0 + sc;
      inside = gr < R;
      rem = K - gk;
    } else {
      constexpr int CPR = ROWS / VEC;
      sr = c / CPR;  // k
      sc = (c % CPR) * VEC;
      gk = k0 + sr;
      gr = row0 + sc;
      inside = gk < K;
      rem = R - gr;
    }
    const int valid = !inside || rem <= 0 ? 0 : (rem >= VEC ? VEC : static_cast<int>(rem));
    const T* src = g;  // a valid address even when nothing is read
    if (valid > 0) src = KMAJ ? g + gr * ld + gk : g + gk * ld + gr;
    cp_async16(smem_u32(s + sr * LD + sc), src, valid * static_cast<int>(sizeof(T)));
  }
}

// One stage's worth of MMAs for a warp (16-bit types: ldmatrix fragments).
template <class T, bool AK, bool BK, class C>
__device__ __forceinline__ void compute_stage(const T* sA, const T* sB, float (&acc)[C::MI][C::NI][4],
                                              int lane, int wm, int wn) {
  using G = Geo<T, AK, BK, C>;
  constexpr int MI = C::MI, NI = C::NI;
  if constexpr (sizeof(T) == 2) {
#pragma unroll
    for (int ks = 0; ks < G::BKE / 16; ++ks) {
      uint32_t af[MI][4];
      uint32_t bf[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        const int rb = wm * C::WM + mi * 16;
        if constexpr (AK) {
          // matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15)
          ldsm_x4(af[mi], smem_u32(sA + (rb + (lane & 15)) * G::LDA + ks * 16 + (lane >> 4) * 8));
        } else {
          // stored [k][m]: same four matrices, transposed on load
          ldsm_x4_trans(af[mi], smem_u32(sA + (ks * 16 + (lane & 7) + (lane >> 4) * 8) * G::LDA + rb +
                                         ((lane >> 3) & 1) * 8));
        }
      }
#pragma unroll
      for (int nj = 0; nj < NI / 2; ++nj) {
        const int nb = wn * C::WN + nj * 16;
        uint32_t r[4];
        if constexpr (BK) {
          // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
          ldsm_x4(r, smem_u32(sB + (nb + (lane & 7) + (lane >> 4) * 8) * G::LDB + ks * 16 +
                              ((lane >> 3) & 1) * 8));
        } else {
          // stored [k][n]: (k 0-7, n 0-7), (k 8-15, n 0-7), (k 0-7, n 8-15), (k 8-15, n 8-15)
          ldsm_x4_trans(r, smem_u32(sB + (ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * G::LDB + nb +
                                    (lane >> 4) * 8));
        }
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) Mma<T>::run(acc[mi][ni], af[mi], bf[ni]);
    }
  } else {
    // TF32: 32-bit fragments straight from shared memory.
    const int g = lane >> 2, t = lane & 3;
    auto at = [&](int r, int k) -> float { return AK ? sA[r * G::LDA + k] : sA[k * G::LDA + r]; };
    auto bt = [&](int n, int k) -> float { return BK ? sB[n * G::LDB + k] : sB[k * G::LDB + n]; };
#pragma unroll
    for (int ks = 0; ks < G::BKE / 8; ++ks) {
      const int kb = ks * 8 + t;
      uint32_t af[MI][4];
      uint32_t bf[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        const int r = wm * C::WM + mi * 16 + g;
        af[mi][0] = to_tf32(at(r, kb));
        af[mi][1] = to_tf32(at(r + 8, kb));
        af[mi][2] = to_tf32(at(r, kb + 4));
        af[mi][3] = to_tf32(at(r + 8, kb + 4));
      }
#pragma unroll
      for (int ni = 0; ni < NI; ++ni) {
        const int n = wn * C::WN + ni * 8 + g;
        bf[ni][0] = to_tf32(bt(n, kb));
        bf[ni][1] = to_tf32(bt(n, kb + 4));
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) Mma<T>::run(acc[mi][ni], af[mi], bf[ni]);
    }
  }
}

template <class T, bool AK, bool BK, class C>
__global__ void __launch_bounds__(C::kThreads, C::MIN_BLOCKS) tc_gemm_kernel(const GemmArgs p) {
  using G = Geo<T, AK, BK, C>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp % C::WARPS_M, wn = warp / C::WARPS_M;

  // Grouped rasterisation: 8 row-tiles share each column sweep (B stays in L2).
  constexpr int GROUP = 8;
  const int pid = blockIdx.x;
  const int per_group = GROUP * p.tiles_n;
  const int first_m = (pid / per_group) * GROUP;
  const int gsize = min(p.tiles_m - first_m, GROUP);
  const int tm = first_m + (pid % per_group) % gsize;
  const int tn = (pid % per_group) / gsize;
  const int64_t m0 = static_cast<int64_t>(tm) * C::BM, n0 = static_cast<int64_t>(tn) * C::BN;

  const T* A = static_cast<const T*>(p.a);
  const T* B = static_cast<const T*>(p.b);
  const int64_t lda = AK ? p.a_sr : p.a_sk;
  const int64_t ldb = BK ? p.b_sr : p.b_sk;
  const int KT = static_cast<int>(cdiv(p.K, G::BKE));

  float acc[C::MI][C::NI][4];
#pragma unroll
  for (int mi = 0; mi < C::MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < C::NI; ++ni)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mi][ni][i] = 0.f;

  auto load_stage = [&](int stage, int kt) {
    T* s = smem + stage * G::STAGE;
    const int64_t k0 = static_cast<int64_t>(kt) * G::BKE;
    load_tile<T, AK, C::BM, G::LDA, C::kThreads>(s, A, lda, m0, p.M, k0, p.K, tid);
    load_tile<T, BK, C::BN, G::LDB, C::kThreads>(s + G::A_TILE, B, ldb, n0, p.N, k0, p.K, tid);
  };

#pragma unroll
  for (int s = 0; s < C::STAGES - 1; ++s) {
    if (s < KT) load_stage(s, s);
    cp_async_commit();
  }
  cp_async_wait<C::STAGES - 2>();
  __syncthreads();

  for (int kt = 0; kt < KT; ++kt) {
    // Refill the stage consumed in the previous iteration (everyone is past it).
    const int pf = kt + C::STAGES - 1;
    if (pf < KT) load_stage(pf % C::STAGES, pf);
    cp_async_commit();
    const T* s = smem + (kt % C::STAGES) * G::STAGE;
    compute_stage<T, AK, BK, C>(s, s + G::A_TILE, acc, lane, wm, wn);
    cp_async_wait<C::STAGES - 2>();  // tile kt + 1 has landed
    __syncthreads();
  }
  cp_async_wait<0>();
  __syncthreads();

  // Stage the accumulators (C fragment: rows g, g+8; columns 2t, 2t+1) and run the epilogue.
  float* stage = reinterpret_cast<float*>(smem_raw);
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mi = 0; mi < C::MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < C::NI; ++ni) {
      const int r = wm * C::WM + mi * 16 + g, c = wn * C::WN + ni * 8 + 2 * t;
      *reinterpret_cast<float2*>(stage + r * G::LDS + c) = make_float2(acc[mi][ni][0], acc[mi][ni][1]);
      *reinterpret_cast<float2*>(stage + (r + 8) * G::LDS + c) =
          make_float2(acc[mi][ni][2], acc[mi][ni][3]);
    }
  __syncthreads();
  epilogue_store<T, float, C::BM, C::BN, C::kThreads>(stage, G::LDS, p.epi, p.M, p.N, m0, n0);
}

// ------------------------------------------------------------------ host
struct Layout {
  bool ok = false;
  bool kmajor = false;
};

// Can the 16-byte copies read this [R, K] operand directly, and how?
inline Layout vec_layout(const at::Tensor& t, int vec) {
  const int64_t R = t.size(0), K = t.size(1), sr = t.stride(0), sk = t.stride(1);
  if (!aligned_to(t.const_data_ptr(), 16)) return {};
  if ((sk == 1 || K == 1) && (R == 1 || sr % vec == 0)) return {true, true};
  if ((sr == 1 || R == 1) && (K == 1 || sk % vec == 0)) return {true, false};
  return {};
}

// Why a copy: the tile loaders move 16-byte chunks with cp.async, which need a
// unit-stride dimension and 16-byte aligned rows.  Operands without one (K not a
// multiple of 8 half / 4 float, storage offsets, zero or odd strides) are repacked
// once into a K-major buffer whose rows are padded to 16 bytes.
inline at::Tensor padded_kmajor_copy(const at::Tensor& t, int vec) {
  const int64_t R = t.size(0), K = t.size(1);
  at::Tensor buf = at::empty({R, round_up(std::max<int64_t>(K, 1), vec)}, t.options());
  at::Tensor view = buf.narrow(1, 0, K);
  view.copy_(t);
  return view;
}

template <class T, bool AK, bool BK, class C>
void launch(const GemmArgs& p, cudaStream_t stream) {
  using G = Geo<T, AK, BK, C>;
  auto kernel = tc_gemm_kernel<T, AK, BK, C>;
  if (G::kSmem > 48 * 1024) {
    // Opt in to > 48 KiB of dynamic shared memory, once per device (a plain
    // attribute call: fine during CUDA-graph capture as well).
    static std::atomic<uint64_t> done{0};
    const int dev = c10::cuda::current_device();
    const uint64_t bit = dev < 64 ? uint64_t{1} << dev : 0;
    if (bit == 0 || (done.load(std::memory_order_acquire) & bit) == 0) {
      C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(G::kSmem)));
      done.fetch_or(bit, std::memory_order_release);
    }
  }
  const int64_t tiles = static_cast<int64_t>(p.tiles_m) * p.tiles_n;
  kernel<<<static_cast<unsigned>(tiles), C::kThreads, G::kSmem, stream>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <class T, class C>
bool run(GemmArgs p, bool a_k, bool b_k, bool rowwise) {
  p.tiles_m = static_cast<int>(cdiv(p.M, C::BM));
  p.tiles_n = static_cast<int>(cdiv(p.N, C::BN));
  p.epi.fuse_rowwise = rowwise && p.N <= C::BN;
  if (rowwise && !p.epi.fuse_rowwise) p.epi.act = 0;  // the identity
  cudaStream_t s = at::cuda::getCurrentCUDAStream();
  if (a_k) {
    if (b_k) launch<T, true, true, C>(p, s);
    else launch<T, true, false, C>(p, s);
  } else {
    if (b_k) launch<T, false, true, C>(p, s);
    else launch<T, false, false, C>(p, s);
  }
  return p.epi.fuse_rowwise;
}

}  // namespace tc

template <class T>
bool tc_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, const at::Tensor& bias,
             const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha,
             const GluParams* glu) {
  constexpr int VEC = 16 / sizeof(T);
  at::Tensor a2 = a, b2 = b;
  tc::Layout la = tc::vec_layout(a, VEC), lb = tc::vec_layout(b, VEC);
  if (!la.ok) {
    a2 = tc::padded_kmajor_copy(a, VEC);
    la = {true, true};
  }
  if (!lb.ok) {
    b2 = tc::padded_kmajor_copy(b, VEC);
    lb = {true, true};
  }
  GemmArgs p = make_gemm_args<T>(a2, b2, c, bias, preact, epi_act, rowwise, alpha, glu);
  // 128x128 tiles when they fill the GPU, else 64x64 (gemm.cuh: tc_big_tiles);
  // linear_glu chose already: its weights are interleaved for that tile width.
  bool big = tc_big_tiles(p.M, p.N);
  if (glu != nullptr) {
    TORCH_CHECK(glu->bn == tc::CfgBig::BN || glu->bn == tc::CfgSmall::BN,
                "torch_act: linear_glu: no tensor-core tile of width ", glu->bn);
    big = glu->bn == tc::CfgBig::BN;
  }
  if (big) return tc::run<T, tc::CfgBig>(p, la.kmajor, lb.kmajor, rowwise != Rowwise::None);
  return tc::run<T, tc::CfgSmall>(p, la.kmajor, lb.kmajor, rowwise != Rowwise::None);
}

}  // namespace cuda
}  // namespace torch_act
