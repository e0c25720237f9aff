// torch_act — the activation registry: every activation the ops know, by name.
//
// An entry holds an activation's metadata (from its functor, see
// kernels/activations.h) and its kernel sets: one table of function pointers
// per CPU ISA path (kernels/cpu/kernel_table.h: cpu::ActKernels) and one for
// CUDA (kernels/cuda/cuda_ops.h: cuda::ActKernels), each instantiated from the
// functor.  The built-ins register at library load (csrc/builtins.cpp); a
// user's plugin library registers its own functor when it is loaded, through
// the same register_activation (torch_act/activation.h writes that call).
//
// Entries are never removed or changed, so the pointers find_activation
// returns stay valid for the life of the process.  Lookups take no lock (an
// append-only array published with release/acquire); registration is
// serialised by a mutex.
#pragma once

#include <c10/util/string_view.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel_set.h"

namespace torch_act {

struct Activation {
  std::string name;
  std::string formula;    // for docs and plots
  std::string reference;  // the same in PyTorch: a Python expression in z and a (tests, docs)
  bool has_alpha = false;
  double default_alpha = 0.0;
  bool alpha_nonzero = false;
  Saves saves = Saves::Input;
  Rowwise rowwise = Rowwise::None;
  // Higher derivatives (activations.h: D_k): the highest order the kernels
  // evaluate (kAnyOrder: all) and the first that is identically 0 (0: none).
  int max_order = 1;
  int zero_from_order = 0;
  // save="mask": the derivative's two values (kernels/activations.h: kMask)
  bool mask = false;
  double (*mask_slope)(bool on, double alpha) = nullptr;
  bool builtin = false;
  // What defines it: for a plugin, its definition's hash (registering the same
  // name again with the same origin is a no-op, with another one an error).
  std::string origin;
  KernelSet kernels;  // kernels.name is set by register_activation

  // Does the backward read the output y (true) or the pre-activation z?
  bool backward_uses_output(double alpha) const { return saves_output(saves, alpha); }
};

// The metadata of functor Op (kernel slots left empty).
template <class Op>
Activation activation_of(bool builtin, std::string origin) {
  Activation a;
  a.name = Op::kName;
  a.formula = Op::kFormula;
  a.reference = Op::kReference;
  a.has_alpha = Op::kHasAlpha;
  a.default_alpha = Op::kDefaultAlpha;
  a.alpha_nonzero = Op::kAlphaNonZero;
  a.saves = Op::kSaves;
  a.rowwise = Op::kRowwise;
  a.max_order = max_derivative_order<Op>();
  a.zero_from_order = Op::kZeroFromOrder;
  a.mask = Op::kMask;
  a.mask_slope = &Op::mask_slope;
  a.builtin = builtin;
  a.origin = std::move(origin);
  return a;
}

// Adds `a` to the registry and returns the stored entry.  Raises ValueError
// when the name is not a valid identifier, or is taken by another definition
// (a built-in, or a plugin of another origin).  The same name and origin
// again returns the existing entry.
const Activation* register_activation(const Activation& a);

// For plugins' load-time registration (a static initializer must not throw):
// registers, or records the error, warns, and leaves the registry unchanged.
// take_registration_errors() returns (and clears) the errors recorded so far,
// so a loader can raise them (torch_act.load_library does).
void register_activation_at_load(const Activation& a) noexcept;
std::vector<std::string> take_registration_errors();

// The entry for `name`, or nullptr.
const Activation* find_activation(c10::string_view name);

// Every entry, in registration order (built-ins first).
std::vector<const Activation*> registered_activations();

// "identity, relu, ..." for error messages.
std::string registered_names();

}  // namespace torch_act
