// torch_act — the portable kernel path: kernels_impl.h with plain-C++ lane
// arrays (8 floats / 4 doubles), compiled with the baseline flags, so it runs
// on any CPU (x86-64 without AVX2, aarch64, ...).  Same packing, blocking and
// fused epilogues as the SIMD paths; speed is whatever the compiler's
// auto-vectoriser makes of the 4 x 16 microkernel, transcendentals go through
// libm lane by lane.
#include "isa_portable.h"
#include "kernels_impl.h"
#include "isa_table.h"
