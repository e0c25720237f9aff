// torch_act._C — a small pybind11 module: build information, the activation
// table and the CPU ISA switch, for Python (`python -m torch_act info`, the
// tests).  The op library itself (libtorch_act.so) never needs Python; this
// module links against it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "registry.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/isa.h"
#include "torch_act.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "torch_act build information and CPU ISA control";
  m.def("build_info", [] {
    const auto info = torch_act::build_info();
    py::dict d;
    d["version"] = info.version;
    d["cpu_isas"] = info.cpu_isas;
    d["with_cuda"] = info.with_cuda;
    d["cuda_arch_list"] = info.cuda_arch_list;
    d["torch_version"] = info.torch_version;
    return d;
  });
  m.def("activations", [] {
    py::list out;
    for (const torch_act::Activation* e : torch_act::registered_activations()) {
      py::dict d;
      d["name"] = e->name;
      d["has_alpha"] = e->has_alpha;
      d["default_alpha"] = e->has_alpha ? py::object(py::float_(e->default_alpha)) : py::none();
      const char* saves = e->saves == torch_act::Saves::Nothing  ? "nothing"
                          : e->saves == torch_act::Saves::Output ? "output"
                          : e->saves == torch_act::Saves::Input  ? "input"
                                                                 : "output_if_alpha_nonneg";
      d["saves"] = saves;
      d["rowwise"] = e->rowwise != torch_act::Rowwise::None;
      d["formula"] = e->formula;
      d["reference"] = e->reference;
      d["builtin"] = e->builtin;
      d["origin"] = e->origin;
      d["alpha_nonzero"] = e->alpha_nonzero;
      d["mask"] = e->mask;  // save="mask" serves it (a two-valued derivative)
      // higher derivatives (kernels/activations.h: D_k): None = every order
      d["max_order"] = e->max_order >= torch_act::kAnyOrder || e->rowwise != torch_act::Rowwise::None
                           ? py::object(py::none())
                           : py::object(py::int_(e->max_order));
      d["zero_from_order"] =
          e->zero_from_order > 0 ? py::object(py::int_(e->zero_from_order)) : py::object(py::none());
      py::list isas;
      const char* names[] = {"portable", "avx2", "avx512", "amx"};
      for (int i = 0; i < torch_act::kNumCpuIsas; ++i)
        if (e->kernels.cpu[i]) isas.append(names[i]);
      d["cpu_isas"] = isas;
      d["cuda"] = e->kernels.cuda != nullptr;
      out.append(d);
    }
    return out;
  });
  m.def("num_activations", [] { return torch_act::registered_activations().size(); },
        "how many activations are registered (built-ins + plugins loaded so far)");
  m.def("take_registration_errors", &torch_act::take_registration_errors,
        "errors of plugin registrations since the last call (and clears them)");
  m.def("compiled_cpu_isas", &torch_act::cpu::compiled_isas);
  m.def("supported_cpu_isas", &torch_act::cpu::supported_isas);
  m.def("cpu_isa", &torch_act::cpu::current_isa);
  m.def("set_cpu_isa", &torch_act::cpu::set_isa, py::arg("isa"));
  m.def(
      "cpu_micro_peak",
      [](double seconds) {
        const auto r = torch_act::cpu::micro_peak(seconds);
        py::dict d;
        d["isa"] = r.isa;
        d["mr"] = r.mr;
        d["nr"] = r.nr;
        d["kc"] = r.kc;
        d["microkernel_gflops"] = r.microkernel_gflops;
        d["fma_loop_gflops"] = r.fma_loop_gflops;
        d["bf16_microkernel_gflops"] = r.bf16_microkernel_gflops;
        d["bf16_dot_loop_gflops"] = r.bf16_dot_loop_gflops;
        return d;
      },
      py::arg("seconds") = 0.5,
      "single-thread GFLOP/s of the fp32 microkernel alone and of a pure FMA loop; "
      "bf16_*: the same for the AVX512-BF16 pair kernel and a pure vdpbf16ps loop "
      "(0 where the path or the CPU has no bf16 dot product)");
  m.def(
      "cpu_bf16_kernel",
      [] {
        namespace c = torch_act::cpu;
        const std::string isa = c::current_isa();
        py::dict d;
        d["isa"] = isa;
        if (isa == "amx") {
          d["kernel"] = "amx";
          d["why"] = "AMX tiles on the amx path";
        } else if (isa != "avx512") {
          d["kernel"] = "fp32 fma";
          d["why"] = "no bf16 dot product on this path";
        } else {
          const c::Bf16Kernel& k = c::bf16_kernel();
          d["kernel"] = k.dot ? "vdpbf16ps" : "fp32 fma";
          d["why"] = k.why;
          d["dot_gflops"] = k.dot_gflops;
          d["fma_gflops"] = k.fma_gflops;
        }
        return d;
      },
      "which kernel bfloat16 GEMMs run on the active CPU path: 'amx', 'vdpbf16ps' "
      "(AVX512-BF16 pairs) or 'fp32 fma' (widened while packing), why, and on the "
      "avx512 path the one-core GFLOP/s of the two loops timed to choose");
  m.def("cpu_parallel_width", &torch_act::cpu::parallel_width,
        "distinct threads one CPU-kernel parallel region runs on now");
  m.def("cpu_scratch_bytes", &torch_act::cpu::scratch_bytes_held,
        "bytes of CPU-kernel scratch the calling thread holds between calls");
}
