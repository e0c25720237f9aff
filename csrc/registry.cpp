// torch_act — the activation registry (csrc/registry.h).
#include "registry.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>

namespace torch_act {
namespace {

constexpr int kCapacity = 4096;

struct Registry {
  std::mutex mu;                               // serialises registration
  std::deque<Activation> store;                // stable addresses
  std::atomic<const Activation*> slots[kCapacity] = {};
  std::atomic<int> count{0};
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: plugins may outlive static destruction
  return *r;
}

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

const Activation* find_locked_free(c10::string_view name) {
  Registry& r = registry();
  const int n = r.count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    const Activation* a = r.slots[i].load(std::memory_order_relaxed);
    if (a->name.size() == name.size() && a->name.compare(0, a->name.size(), name.data(), name.size()) == 0)
      return a;
  }
  return nullptr;
}

}  // namespace

const Activation* find_activation(c10::string_view name) { return find_locked_free(name); }

const Activation* register_activation(const Activation& a) {
  TORCH_CHECK_VALUE(valid_name(a.name), "torch_act.register_activation: name '", a.name,
                    "' must be an identifier (letters, digits, _; at most 64 characters)");
  TORCH_CHECK_VALUE(a.rowwise == Rowwise::None || a.builtin,
                    "torch_act.register_activation: '", a.name,
                    "': only built-ins can be row activations");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (const Activation* old = find_locked_free(a.name)) {
    TORCH_CHECK_VALUE(!old->builtin, "torch_act.register_activation: '", a.name,
                      "' is a built-in activation; choose another name");
    TORCH_CHECK_VALUE(old->origin == a.origin, "torch_act.register_activation: an activation named '",
                      a.name, "' is already registered with a different definition (",
                      old->origin, "); choose another name");
    return old;
  }
  const int n = r.count.load(std::memory_order_relaxed);
  TORCH_CHECK(n < kCapacity, "torch_act.register_activation: too many activations (", kCapacity, ")");
  r.store.push_back(a);
  r.store.back().kernels.name = r.store.back().name.c_str();
  r.store.back().kernels.rowwise = a.rowwise;
  r.slots[n].store(&r.store.back(), std::memory_order_relaxed);
  r.count.store(n + 1, std::memory_order_release);
  return &r.store.back();
}

namespace {
std::mutex g_err_mu;
std::vector<std::string>& load_errors() {
  static auto* v = new std::vector<std::string>();
  return *v;
}
}  // namespace

void register_activation_at_load(const Activation& a) noexcept {
  try {
    register_activation(a);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) msg = ce->what_without_backtrace();
    {
      std::lock_guard<std::mutex> lock(g_err_mu);
      load_errors().push_back(msg);
    }
    try {
      TORCH_WARN("torch_act: a plugin's activation was not registered: ", msg);
    } catch (...) {
    }
  }
}

std::vector<std::string> take_registration_errors() {
  std::lock_guard<std::mutex> lock(g_err_mu);
  std::vector<std::string> v;
  v.swap(load_errors());
  return v;
}

std::vector<const Activation*> registered_activations() {
  Registry& r = registry();
  const int n = r.count.load(std::memory_order_acquire);
  std::vector<const Activation*> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(r.slots[i].load(std::memory_order_relaxed));
  return v;
}

std::string registered_names() {
  std::string s;
  for (const Activation* a : registered_activations()) s += (s.empty() ? "" : ", ") + a->name;
  return s;
}

}  // namespace torch_act
