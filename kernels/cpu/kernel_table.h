// torch_act — the plain interface between the CPU driver (baseline-compiled
// TUs with ATen: linear_act.cpp, isa.cpp) and the per-ISA kernel TUs
// (kernels_avx512.cpp, kernels_avx2.cpp, kernels_portable.cpp).
//
// Only types and declarations live here: no inline functions, no templates,
// no torch headers.  Every ISA TU is compiled with its own target attributes;
// anything inline that both a baseline TU and an ISA TU emitted could be merged
// by the linker into one (wrong-ISA) copy.  The ISA TUs fill a KernelTable of
// plain function pointers; the driver picks one table at load (isa.cpp) and
// does all blocking decisions, threading and workspace management.
#pragma once

#include <stdint.h>

#include "../activations.h"  // Saves, Rowwise, kNumBuiltinActivations

namespace torch_act {
namespace cpu {

enum class DT : int32_t { F32 = 0, F64 = 1, BF16 = 2, F16 = 3 };

// Raw 16-bit storage types (no arithmetic; converted by the ISA kernels).
struct bf16_t {
  uint16_t x;
};
struct f16_t {
  uint16_t x;
};

// A strided matrix view: element (r, c) lives at p + (r * rs + c * cs) elements.
struct MatRef {
  const void* p;
  DT dt;
  int64_t rs, cs;
};

// How a GEMM's operands are packed (and so which microkernel runs).
enum class PackKind : int32_t {
  F32 = 0,       // float32 panels, fp32 FMA microkernel (fp32, fp16, and bf16 without dot)
  F64 = 1,       // float64 panels, fp64 FMA microkernel
  BF16Pair = 2,  // bf16 (k, k+1) pairs, vdpbf16ps microkernel, fp32 accumulation
  AmxBf16 = 3,   // AMX tiles: A panels row-major [mr][kcp], B as BF16Pair; fp32 accumulation
};

// C = A . Bt^T (+ bias, activation epilogue).
struct GemmProblem {
  int64_t M, N, K;
  MatRef a;   // [M, K]
  MatRef bt;  // [N, K]
  const void* bias;  // [N] contiguous, dtype bias_dt, or null
  DT bias_dt;
  void* out;  // [M, N], row stride ldo, dtype out_dt
  DT out_dt;
  int64_t ldo;
  void* pre;  // optional second output z, row stride ldp, dtype pre_dt (null: none)
  DT pre_dt;
  int64_t ldp;
  double alpha;  // the activation's parameter (the activation itself: which ActKernels runs)
  DT compute;    // F32 or F64: the accumulation type
};

// Packed-panel geometry chosen by the ISA for a problem.
//   packed A (whole matrix, packed once per call): K blocks of kc, block-major;
//     block b holds ceil(M/mr) panels of [kcb][mr] (kcb = that block's K,
//     rounded up to kalign; bf16 pairs: [kcb/2][mr][2]; AMX: row-major [mr][kcb]).  Offset of block b
//     is b*kc*Mp elements (Mp = ceil(M/mr)*mr), panel i then at i*kcb*mr.
//   B slices (packed per task into an L2-sized buffer): [kcb][nr] per panel.
//   Tasks cover mc-row x nc-column blocks of C.
struct Blocking {
  PackKind kind;
  int32_t elem;  // bytes per packed element
  int32_t mr, nr, kalign, a_pad;
  int64_t kc, mc, nc;
};

// Backward of a narrow layer in one pass over rows (see small_bwd_rows below).
constexpr int64_t kSmallBwdMaxN = 64;   // N <= this
constexpr int64_t kSmallBwdMaxKp = 64;  // Kp = K rounded up to 16 <= this
constexpr int64_t kSmallBwdRows = 16;   // rows per dz pass inside the kernel
struct SmallBwdProblem {
  int64_t N, K, Kp;
  MatRef g;        // [M, N] dL/dout, any strides
  const void* s;   // saved [M, N] rows (lds, sdt), or null (identity)
  DT sdt;
  int64_t lds;
  MatRef x;        // [M, K] layer input, any strides
  const void* wp;  // w in the compute type, [N][Kp], zero-padded
  void* dx;        // [M, K] rows (lddx, dxdt), or null
  DT dxdt;
  int64_t lddx;
  double alpha;
  DT compute;
};

// The kernels that depend on the activation, for one ISA path, instantiated
// from one functor (kernels_impl.h: kActKernels<Op>).  Row activations
// (softmax, log_softmax) have the identity's GEMM / forward kernels (the
// driver normalises rows afterwards) and their own dz_rows / small_bwd_rows.
struct ActKernels {
  // C[m0:m1, n0:n1] (m0 a multiple of mr): for each K block, packs the B slice
  // into bbuf (kc x round_up(n1-n0, nr) packed elements, 64-byte aligned) and
  // runs the microkernel over the mr x nr tiles.  With more than one K block,
  // partial sums live in cbuf (compute type, C(m, n) at cbuf[m*ldc + n]; may
  // be `out` itself when out has the compute type); the last block applies
  // the epilogue (bias, optional pre-activation store, activation, store).
  void (*gemm_task)(const GemmProblem* p, const Blocking* bl, const void* pa, int64_t m0,
                    int64_t m1, int64_t n0, int64_t n1, void* bbuf, void* cbuf, int64_t ldc);
  // Small-shape path (no packing of A, w^T prepared by KernelTable::direct_prep): rows [m0, m1).
  void (*direct_rows)(const GemmProblem* p, const void* ws, int64_t m0, int64_t m1);
  // y[i] = act(x[i]) for i < n (elementwise activations), x/y contiguous.
  void (*act_forward)(const void* x, DT xdt, void* y, DT ydt, int64_t n, double alpha);
  // Backward through the activation for rows [m0, m1) of an [*, n] problem:
  //   dz = g * act'(s)  (row activations: the softmax / log_softmax Jacobian),
  //   g: any strides; s: contiguous rows (lds), dtype sdt, ignored for identity;
  //   dz: (ldz, dzdt) or null; dbpart: n compute-type column sums of dz over these
  //   rows (fixed order), or null.
  void (*dz_rows)(const MatRef* g, const void* s, DT sdt, int64_t lds, int64_t m0, int64_t m1,
                  int64_t n, double alpha, void* dz, DT dzdt, int64_t ldz, void* dbpart);
  // Narrow-layer backward for rows [m0, m1): dx rows (when p->dx), and adds this
  // block's dw (N x Kp, compute type; null: not wanted) and db (N; null: not
  // wanted) sums into dwpart / dbpart.
  void (*small_bwd_rows)(const SmallBwdProblem* p, int64_t m0, int64_t m1, void* dwpart,
                         void* dbpart);
  // linear_glu's gemm_task (null for row activations): bt holds interleaved
  // gate / up panels (impl_epilogue.h: Glu), out is [M, ldo] with ldo the real
  // N, pre (optional) [M, ldp] = [z_gate | z_up]; cbuf must not be `out`.
  void (*glu_gemm_task)(const GemmProblem* p, const Blocking* bl, const void* pa, int64_t m0,
                        int64_t m1, int64_t n0, int64_t n1, void* bbuf, void* cbuf, int64_t ldc);
  // linear_glu's backward through the gate, rows [m0, m1) of an [*, n] problem
  // (null for row activations): with h = act(z_gate),
  //   d_up = g * h,  d_gate = backward(g * z_up, h or z_gate)
  // in one pass, nothing rounded in between.  g: any strides; z: rows of
  // [z_gate | z_up] (row stride ldz, dtype zdt); d_gate / d_up: rows of n
  // (row stride ldd, dtype ddt).
  void (*glu_dz_rows)(const MatRef* g, const void* z, DT zdt, int64_t ldz, int64_t m0, int64_t m1,
                      int64_t n, double alpha, void* d_gate, void* d_up, DT ddt, int64_t ldd);
  // Higher derivatives, elementwise: out[i] = D_order(g[i], s[i]) (activations.h:
  // backward2 / backward3) for i < n, g / s / out contiguous, one dtype dt.
  // order is 2 or 3 and one the functor defines (the op checks); null for row
  // activations.
  void (*deriv)(int32_t order, const void* g, const void* s, DT dt, int64_t n, double alpha,
                void* out);
  // save="mask" (null unless the functor sets kMask): for `rows` rows of n
  // saved values s (row stride lds, dtype sdt), bit j of row r (byte
  // bits[r * ldb + j / 8], bit j % 8) = backward(1, s[r][j], alpha) != off.
  void (*mask_rows)(const void* s, DT sdt, int64_t lds, int64_t rows, int64_t n, double alpha,
                    double off, uint8_t* bits, int64_t ldb);
};

// What one ISA path provides independently of the activation.
struct KernelTable {
  const char* name;
  int32_t isa;  // its slot in Activation::cpu (csrc/registry.h: CpuIsa)
  // Chooses the packing kind and block sizes (bf16_dot: use the AVX512-BF16
  // microkernel; l2_bytes: the L2 size the kc x nc B slice is sized to, 0 for
  // the ISA's default TA_L2_BYTES).  nc is an upper bound; the driver may lower it (keeping it a
  // multiple of nr) to balance threads.
  void (*blocking)(const GemmProblem* p, int32_t bf16_dot, int64_t l2_bytes, Blocking* out);
  // Packs A panels [i0, i1) (all K blocks) into `dst` (the whole packed A).
  void (*pack_a)(const GemmProblem* p, const Blocking* bl, int64_t i0, int64_t i1, void* dst);
  // Small-shape path, no packing of A: bt transposed into ws ([K][round_up(N)],
  // compute type, direct_ws_bytes) once by direct_prep, then ActKernels::direct_rows.
  int64_t (*direct_ws_bytes)(const GemmProblem* p);
  void (*direct_prep)(const GemmProblem* p, void* ws);
  // Softmax / log_softmax over `rows` rows of n entries: z (ldz, zdt) -> y (ldy, ydt);
  // z == y allowed (in place).  Computes in fp32 (fp64 for F64).
  void (*softmax_rows)(const void* z, DT zdt, int64_t ldz, void* y, DT ydt, int64_t ldy,
                       int64_t rows, int64_t n, int32_t log);
  // save="mask" backward for `rows` rows of n (g, out contiguous, dtype dt):
  // out = g * (bit ? on : off), bits as ActKernels::mask_rows writes them
  // (row r at bits + r * ldb); the same bits as the functor's backward gives.
  void (*mask_grad_rows)(const void* g, DT dt, const uint8_t* bits, int64_t ldb, int64_t rows,
                         int64_t n, double on, double off, void* out);
  // Benchmark only: mode 0 runs the fp32 microkernel alone (reps passes over
  // cache-resident kc-deep panels), mode 1 a pure FMA loop, modes 2 / 3 the
  // same for the bf16 pair kernel and vdpbf16ps (0 FLOPs on paths without it).
  double (*micro_bench)(int64_t kc, int64_t reps, int32_t mode);
  // The built-ins' kernels on this path, in TORCH_ACT_BUILTIN_ACTIVATIONS
  // order (kNumBuiltinActivations entries); [0] is the identity.
  const ActKernels* const* builtins;
};

// Defined by the ISA TUs (x86 ones only when compiled for x86-64).
const KernelTable* kernels_portable();
#if defined(__x86_64__) || defined(_M_X64)
#define TORCH_ACT_X86 1
const KernelTable* kernels_avx2();
const KernelTable* kernels_avx512();
const KernelTable* kernels_amx();
#endif

}  // namespace cpu
}  // namespace torch_act
