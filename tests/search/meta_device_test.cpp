// Tensors that the search creates follow the modules' device. Tested without a GPU on LibTorch's
// `meta` device (tensors with shapes and no data): weights and inputs are put there, and while a
// DeviceCheck lives, every op first checks that
// its tensor arguments share one device (0-dim CPU tensors excepted: LibTorch allows those as scalars
// on every device), as CUDA kernels do. So a tensor created on the CPU and mixed into the run, e.g. a
// rank mask multiplying the activations, fails here as it would on a GPU.
// Whole runs (a search step, a training step, greedy decoding) on meta are not tested: LibTorch's
// C++ library lacks meta kernels for ops the model uses (index_select, abs, where, relu, ...; Python
// registers its own), so the test drives the search's gates through the PEFT modules instead.
// What this test binary registers for that, for meta tensors only: Module::to(meta) (LibTorch
// refuses to swap a CPU parameter's data for a meta tensor), item() returns 0 and a copy to the host
// gives zeros (meta tensors hold no values), and shape-only index_select, abs and where.
#include <gtest/gtest.h>
#include <torch/library.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/WrapDimMinimal.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <optional>
#include <set>
#include <string>

#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/architecture.h"
#include "bipeft/search/searcher.h"
#include "test_util.h"
#include "tiny_models.h"

namespace bipeft::search {
namespace {

at::Scalar meta_item(const at::Tensor& t) {
  if (t.scalar_type() == at::kBool) return at::Scalar(false);
  if (at::isFloatingType(t.scalar_type())) return at::Scalar(0.0);
  return at::Scalar(int64_t{0});
}

// Copies into a meta tensor change nothing (the meta way); copies out of one give zeros.
at::Tensor& meta_copy_(at::Tensor& self, const at::Tensor& src, bool /*non_blocking*/) {
  TORCH_CHECK(self.is_meta() || src.is_meta(), "meta_copy_: neither tensor is on the meta device");
  if (!self.is_meta()) self.zero_();
  return self;
}

// Lets Module::to(meta) replace a parameter's data (set_data) by its meta copy.
bool meta_compatible(const at::Tensor& self, const at::Tensor& from) {
  return self.is_meta() || from.is_meta() || self.key_set() == from.key_set();
}

// LibTorch's C++ library has no meta kernels for index_select (embedding lookups), abs (relative
// position buckets) and where; Python registers its own. Shape-only stand-ins:
at::Tensor meta_abs(const at::Tensor& self) { return at::empty_like(self); }
at::Tensor meta_where(const at::Tensor& cond, const at::Tensor& a, const at::Tensor& b) {
  const auto sizes = at::infer_size(at::infer_size(cond.sizes(), a.sizes()), b.sizes());
  return at::empty(sizes, a.options().device(c10::kMeta).dtype(at::result_type(a, b)));
}

at::Tensor meta_index_select(const at::Tensor& self, int64_t dim, const at::Tensor& index) {
  auto sizes = self.sizes().vec();
  if (!sizes.empty()) sizes[static_cast<size_t>(c10::maybe_wrap_dim(dim, self.dim()))] = index.numel();
  return at::empty(sizes, self.options());
}

TORCH_LIBRARY_IMPL(aten, Meta, m) {
  m.impl("_local_scalar_dense", meta_item);
  m.impl("copy_", meta_copy_);
  m.impl("index_select", meta_index_select);
  m.impl("abs", meta_abs);
  m.impl("where.self", meta_where);
}
TORCH_LIBRARY_IMPL(aten, AutogradMeta, m) { m.impl("_has_compatible_shallow_copy_type", meta_compatible); }

// Ops whose job is to move data between devices, or that take host indices on any device.
const std::set<std::string>& cross_device_ops() {
  static const std::set<std::string> ops = {
      "aten::copy_",   "aten::_to_copy",          "aten::to",           "aten::_copy_from",
      "aten::set_",    "aten::index.Tensor",      "aten::index_put_",   "aten::_index_put_impl_",
      "aten::item",    "aten::_local_scalar_dense", "aten::set_data", "aten::_has_compatible_shallow_copy_type"};
  return ops;
}

// Every op called while a DeviceCheck lives: its tensor arguments (and tensor lists) must share one
// device, 0-dim CPU tensors excepted.
void check_one_device(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack) {
  const auto& name = op.schema().name();
  if (cross_device_ops().count(name) == 0) {
    std::optional<c10::Device> device;
    auto see = [&](const at::Tensor& t) {
      if (!t.defined() || (t.dim() == 0 && t.is_cpu())) return;
      if (!device) device = t.device();
      TORCH_CHECK(*device == t.device(), name, ": tensors on ", *device, " and ", t.device(),
                  " in one op (a tensor was created on the wrong device)");
    };
    for (const auto& a : torch::jit::last(*stack, op.schema().arguments().size())) {
      if (a.isTensor()) see(a.toTensor());
      else if (a.isTensorList()) {
        const auto list = a.toTensorList();
        for (size_t k = 0; k < list.size(); ++k) see(list.get(k));
      }
    }
  }
  op.redispatchBoxed(keys & c10::DispatchKeySet(c10::DispatchKeySet::FULL_AFTER, c10::DispatchKey::TESTING_ONLY_GenericMode),
                     stack);
}

TORCH_LIBRARY_IMPL(_, TESTING_ONLY_GenericMode, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&check_one_device>());
}

/// While alive, every op on this thread checks that its tensors share one device.
struct DeviceCheck {
  c10::impl::IncludeDispatchKeyGuard guard{c10::DispatchKey::TESTING_ONLY_GenericMode};
};

const auto kMeta = c10::Device(c10::kMeta);

TEST(MetaDevice, ACpuTensorMixedIntoAMetaRunThrows) {
  // What the tests below rely on: the mix is an error, not a silent copy, in elementwise ops and in
  // matrix products (whose meta kernels do not check devices themselves), and only while checked.
  const auto x = at::ones({2, 3}).to(kMeta);
  const auto w = at::ones({4, 3});
  {
    DeviceCheck check;
    EXPECT_THROW(x * at::ones({3}), c10::Error);
    EXPECT_THROW(at::linear(x, w), c10::Error);
    EXPECT_EQ(at::linear(x, w.to(kMeta)).device(), kMeta);
    EXPECT_EQ((x * at::ones({3}).to(kMeta) + at::scalar_tensor(1.0)).device(), kMeta);
    EXPECT_EQ(x.sum().item<double>(), 0.0);
    EXPECT_EQ(x.to(at::kCPU).sum().item<double>(), 0.0);
    auto m = test::tiny_t5_with_real_vocab(3);
    m->to(kMeta);
    for (const auto& p : m->parameters()) EXPECT_EQ(p.device(), kMeta);
  }
  EXPECT_NO_THROW(at::linear(x, w));  // unchecked: the meta kernel lets it through
}

TEST(MetaDevice, SampledGatesFollowTheModulesDevice) {
  // The search's rank masks and on-values multiply the modules' activations: they must live where the
  // modules do (they were created on the CPU: a CUDA run mixed host and device tensors).
  auto backbone = test::tiny_t5_with_real_vocab(3);
  peft::PeftModel pm(backbone, peft::manual_structure({"lora", "bitfit"}, 8, {"q", "v"}, backbone->sites()), 7);
  pm->to(kMeta);
  for (const bool iterative : {true, false}) {
    for (const bool gumbel : {true, false}) {
      SCOPED_TRACE(std::string(iterative ? "iterative" : "entangled") + (gumbel ? ", gumbel" : ", soft"));
      SearchOptions o;
      o.iterative = iterative;
      o.gumbel = gumbel;
      auto gen = at::detail::createCPUGenerator(5);
      Architecture arch(pm->modules, o.architecture(), gen);
      for (const auto stage : {Architecture::Stage::Binary, Architecture::Stage::Dimension}) {
        arch.sample_gates_(stage, 1.0, gen);
        DeviceCheck check;
        for (const auto& m : pm->modules) {
          const auto x = at::ones({2, 3, 32}).to(kMeta), y = at::ones({2, 3, 32}).to(kMeta);
          try {
            EXPECT_EQ(static_cast<model::SiteHook&>(*m).apply(x, y).device(), kMeta) << m->id();
          } catch (const std::exception& e) {
            ADD_FAILURE() << m->id() << ": " << e.what();
          }
        }
      }
    }
  }
}


}  // namespace
}  // namespace bipeft::search
