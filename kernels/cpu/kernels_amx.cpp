// torch_act — the AMX kernel path: the avx512 path (same kernels_impl.h,
// same AVX-512 vectors for fp32/fp64/fp16 and every epilogue) plus AMX tiles
// for bfloat16 GEMMs: a 32 x 32 fp32 C block in tmm0-3, two 16 x 32 bf16 A
// tiles and two 16-pair x 16 B tiles per 32-wide K step (4 TDPBF16PS, 16 K
// MACs each).  The tile results are stored once per K block and finished by
// the vector epilogue (bias, activation, bf16 rounding).  Peak: 1024 bf16
// flop per cycle per core; in practice limited by tile loads (A from L1, B
// from the L2-resident slice) and by the per-tile epilogue for small K.
// Needs Linux's AMX permission (isa.cpp requests it) and is only selected on
// CPUs with AMX-TILE and AMX-BF16.
#if defined(__x86_64__) || defined(_M_X64)
#include "isa_amx.h"
#include "kernels_impl.h"
#include "isa_table.h"
#endif
