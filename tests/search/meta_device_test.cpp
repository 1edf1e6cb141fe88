// Every tensor that a search, a training run and greedy decoding create follows the backbone's
// device. Tested without a GPU on LibTorch's `meta` device (tensors with shapes and no data): the
// backbone's weights and the inputs are put there, and while a test runs, every op first checks that
// its tensor arguments share one device (0-dim CPU tensors excepted: LibTorch allows those as scalars
// on every device), as CUDA kernels do. So a tensor created on the CPU and mixed into the run, e.g. a
// rank mask multiplying the activations, fails here as it would on a GPU.
// The runs need LibTorch >= 2.0: 1.13 has no meta kernels for ops the model uses (index_select, ...),
// so under 1.13 only the mechanism test is compiled; CI runs the rest in scripts/test-libtorch2.
// What this test binary registers for that, for meta tensors only: Module::to(meta) (LibTorch
// refuses to swap a CPU parameter's data for a meta tensor), item() returns 0 and a copy to the host
// gives zeros (meta tensors hold no values). The runs' numbers are therefore meaningless here.
#include <gtest/gtest.h>
#include <torch/library.h>
#include <torch/version.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <optional>
#include <set>
#include <string>

#include "bipeft/model/generate.h"
#include "bipeft/model/t5_model.h"
#include "bipeft/peft/peft_model.h"
#include "bipeft/peft/structure.h"
#include "bipeft/search/searcher.h"
#include "bipeft/train/trainer.h"
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

TORCH_LIBRARY_IMPL(aten, Meta, m) {
  m.impl("_local_scalar_dense", meta_item);
  m.impl("copy_", meta_copy_);
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
      else if (a.isTensorList())
        for (const at::Tensor& t : a.toTensorList()) see(t);
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

#if TORCH_VERSION_MAJOR >= 2
model::T5Model tiny_t5_on_meta() {
  auto m = test::tiny_t5_with_real_vocab(3);
  m->to(kMeta);
  return m;
}

TEST(MetaDevice, SearchStepsRunOnTheBackbonesDevice) {
  SearchOptions o;
  o.epochs = 2;
  o.prune_begin_epoch = 0;
  o.max_triggers = 2;
  o.batch_size = 8;
  o.max_train_examples = 16;
  for (const char* space_name : {"s2", "s1"}) {
    for (const bool iterative : {true, false}) {
      for (const bool gumbel : {true, false}) {
        o.iterative = iterative;
        o.gumbel = gumbel;
        SCOPED_TRACE(std::string(space_name) + (iterative ? ", iterative" : ", entangled") +
                     (gumbel ? ", gumbel" : ", soft"));
        RunContext ctx;
        ctx.device = kMeta;
        SpaceOptions space;
        space.space = space_name;
        try {
          DeviceCheck check;
          run_search(tiny_t5_on_meta(), test::example_tokenizer(), test::sst2_sample(), space, o, 1e9, ctx);
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
        }
      }
    }
  }
}

TEST(MetaDevice, TrainingStepAndDevEvaluationRunOnTheBackbonesDevice) {
  auto m = tiny_t5_on_meta();
  const std::vector<std::string> all_methods = {"lora",   "adapter_lr", "serial_adapter", "parallel_adapter",
                                                "prefix", "bitfit",     "lnfit"};
  peft::PeftModel pm(m, peft::manual_structure(all_methods, 4, {}, m->sites()), 7);
  for (const auto& p : pm->parameters()) ASSERT_EQ(p.device(), kMeta);
  train::TrainOptions o;
  o.epochs = 1;
  o.batch_size = 8;
  o.max_train_examples = 8;
  o.eval_batch_size = 8;
  o.eval_test = false;
  RunContext ctx;
  ctx.device = kMeta;
  try {
    DeviceCheck check;
    const auto r = train::train_model(*pm, test::example_tokenizer(), test::sst2_sample(), o, ctx);
    EXPECT_EQ(r.steps, 1);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

TEST(MetaDevice, GreedyDecodingRunsOnTheBackbonesDevice) {
  auto m = tiny_t5_on_meta();
  const auto ids = at::ones({2, 5}, at::kLong).to(kMeta);
  const auto mask = at::ones({2, 5}, at::kLong).to(kMeta);
  at::Tensor out;
  try {
    DeviceCheck check;
    out = model::greedy_generate(*m, ids, mask, 4);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  ASSERT_TRUE(out.defined());
  EXPECT_EQ(out.device(), kMeta);
}

#endif  // TORCH_VERSION_MAJOR >= 2

}  // namespace
}  // namespace bipeft::search
