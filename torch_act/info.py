"""``python -m torch_act info``: version, build and library information."""
import os

import torch


def add_arguments(p):
    p.add_argument("--cmake-prefix", action="store_true",
                   help="print only the folder to add to CMAKE_PREFIX_PATH for find_package(TorchAct)")


def main(args):
    import torch_act

    info = torch_act.build_info()
    # <pkg>/share/cmake holds TorchAct/TorchActConfig.cmake: a CMAKE_PREFIX_PATH
    # entry (CMake searches <prefix>/<name>*/), like torch.utils.cmake_prefix_path.
    cmake_prefix = os.path.join(os.path.dirname(os.path.abspath(torch_act.__file__)), "share", "cmake")
    if args.cmake_prefix:
        print(cmake_prefix)
        return 0
    cuda = f"CUDA archs {info['cuda_arch_list']}" if info["with_cuda"] else "CPU only"
    print(f"torch_act {info['version']}")
    print(f"  built against torch {info['torch_version']} (running torch {torch.__version__})")
    print(f"  CPU ISA paths compiled in: {', '.join(info['cpu_isas'])}")
    print(f"  CPU ISA paths this machine runs: {', '.join(info['supported_cpu_isas'])}; in use: {info['cpu_isa']}")
    bk = torch_act._C.cpu_bf16_kernel()
    timed = (f"; vdpbf16ps {bk['dot_gflops']:.0f} vs FMA {bk['fma_gflops']:.0f} GFLOP/s per core"
             if bk.get("dot_gflops") else "")
    print(f"  bfloat16 GEMM kernel: {bk['kernel']} ({bk['why']}{timed})")
    print(f"  CUDA: {cuda}")
    print(f"  library: {info['library']}")
    print(f"  C++: find_package(TorchAct) with CMAKE_PREFIX_PATH {cmake_prefix} (docs/cpp.md)")
    print(f"  activations: {', '.join(torch_act.ACTIVATIONS)}")
    return 0
