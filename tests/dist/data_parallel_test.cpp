// Data parallelism: shards of a global batch, loss weights, gradient sums. A fake communicator checks
// the bookkeeping; two real c10d Gloo workers (threads of this process, on 127.0.0.1) check that the
// summed shard gradients are the one-process gradient of the whole batch.
#include <gtest/gtest.h>

#include <numeric>

#include <ATen/ATen.h>

#include "bipeft/core/error.h"
#include "bipeft/dist/communicator.h"
#include "bipeft/dist/data_parallel.h"
#include "dist/loopback.h"

namespace bipeft {
namespace {

// Rank `rank` of `world` processes whose peers all hold the same tensors as this one: a sum is
// `world` times the value, a broadcast keeps the value. Counts the calls.
class MirrorComm : public dist::Communicator {
 public:
  MirrorComm(int rank, int world) : rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce_sum(std::vector<at::Tensor>& ts) override {
    ++sums;
    for (auto& t : ts) t.mul_(world_);
  }
  void broadcast(std::vector<at::Tensor>&, int) override { ++broadcasts; }
  std::string backend() const override { return "mirror"; }
  int sums = 0, broadcasts = 0;

 private:
  int rank_, world_;
};

std::vector<data::TokenizedExample> examples_with_targets(const std::vector<size_t>& lengths) {
  std::vector<data::TokenizedExample> out;
  for (size_t n : lengths) out.push_back({{1, 2, 1}, std::vector<int64_t>(n, 7)});
  return out;
}

TEST(DataParallel, OneProcessIsTheIdentity) {
  dist::DataParallel dp;
  EXPECT_FALSE(dp.active());
  EXPECT_TRUE(dp.writer());
  const std::vector<size_t> idx = {4, 1, 3};
  EXPECT_EQ(dp.shard(idx), idx);
  EXPECT_EQ(dp.loss_weight(examples_with_targets({1, 2, 3, 4, 5}), idx), 1.0);
  auto p = at::ones({3}).requires_grad_();
  p.mutable_grad() = at::full({3}, 2.0);
  double loss = 0.5;
  dp.sum_gradients_({p}, &loss);
  EXPECT_TRUE(p.grad().equal(at::full({3}, 2.0)));
  EXPECT_EQ(loss, 0.5);
  EXPECT_TRUE(dp.any(true));
  EXPECT_FALSE(dp.any(false));
}

TEST(DataParallel, RoundRobinBatchesGoToExactlyOneProcess) {
  EXPECT_TRUE(dist::DataParallel().takes(0));
  EXPECT_TRUE(dist::DataParallel().takes(7));
  for (int world : {2, 3}) {
    for (size_t b = 0; b < 10; ++b) {
      int takers = 0, taker = -1;
      for (int r = 0; r < world; ++r)
        if (dist::DataParallel(std::make_shared<MirrorComm>(r, world)).takes(b)) ++takers, taker = r;
      EXPECT_EQ(takers, 1) << "batch " << b << " of world " << world;
      EXPECT_EQ(taker, static_cast<int>(b % static_cast<size_t>(world)));
    }
  }
}

TEST(DataParallel, ShardsCoverTheBatchInOrderAndWeightsSumToOne) {
  const std::vector<size_t> idx = {9, 8, 7, 6, 5};
  const auto ex = examples_with_targets({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  for (int world : {2, 3, 5, 7}) {
    std::vector<size_t> joined;
    double weights = 0;
    for (int r = 0; r < world; ++r) {
      dist::DataParallel dp(std::make_shared<MirrorComm>(r, world));
      const auto s = dp.shard(idx);
      joined.insert(joined.end(), s.begin(), s.end());
      weights += dp.loss_weight(ex, idx);
      EXPECT_LE(s.size(), idx.size() / static_cast<size_t>(world) + 1);
    }
    EXPECT_EQ(joined, idx) << world << " processes";
    EXPECT_NEAR(weights, 1.0, 1e-12) << world << " processes";
  }
  // Rank 0 of 2 takes rows 9, 8 with 10 + 9 of the batch's 10+9+8+7+6 = 40 target tokens.
  dist::DataParallel dp(std::make_shared<MirrorComm>(0, 2));
  EXPECT_DOUBLE_EQ(dp.loss_weight(ex, idx), 19.0 / 40.0);
}

TEST(DataParallel, GradientSumsKeepMissingGradientsMissingAndSumTheLoss) {
  auto comm = std::make_shared<MirrorComm>(1, 2);
  dist::DataParallel dp(comm);
  EXPECT_FALSE(dp.writer());
  auto a = at::ones({2, 2}).requires_grad_(), b = at::ones({3}).requires_grad_();
  a.mutable_grad() = at::full({2, 2}, 1.5);
  double loss = 0.25;
  dp.sum_gradients_({a, b}, &loss);
  EXPECT_TRUE(a.grad().equal(at::full({2, 2}, 3.0)));
  EXPECT_FALSE(b.grad().defined());  // nobody computed it
  EXPECT_DOUBLE_EQ(loss, 0.5);
  EXPECT_EQ(comm->sums, 2);  // presence + loss, then one flat buffer
  EXPECT_TRUE(dp.any(true));
}

// A loss that averages over target tokens, like the T5 cross-entropy: sum over the rows' tokens of
// (w . x_token)^2 over the number of tokens.
at::Tensor token_mean_loss(const at::Tensor& w, const std::vector<data::TokenizedExample>& ex, const std::vector<size_t>& rows) {
  std::vector<at::Tensor> parts;
  double tokens = 0;
  for (size_t i : rows) {
    const auto n = static_cast<int64_t>(ex[i].target_ids.size());
    auto x = at::arange(static_cast<double>(n * 4), at::kFloat).reshape({n, 4}).div(10.0 + static_cast<double>(i));
    parts.push_back(x.matmul(w).pow(2).sum());
    tokens += static_cast<double>(n);
  }
  return at::stack(parts).sum() / tokens;
}

TEST(DataParallel, TwoGlooWorkersSumToTheWholeBatchGradient) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  const auto ex = examples_with_targets({3, 1, 4, 1, 5, 9, 2});
  const std::vector<size_t> idx = {6, 0, 5, 2, 3, 1, 4};
  const auto w0 = at::tensor({0.3f, -1.2f, 0.7f, 2.0f});
  auto whole = w0.clone().requires_grad_();
  auto whole_loss = token_mean_loss(whole, ex, idx);
  whole_loss.backward();

  const auto results = test::on_two_loopback_workers([&](std::shared_ptr<dist::Communicator> comm) {
    dist::DataParallel dp(std::move(comm));
    auto w = w0.clone().requires_grad_();
    auto loss = token_mean_loss(w, ex, dp.shard(idx)) * dp.loss_weight(ex, idx);
    double value = loss.item<double>();
    loss.backward();
    dp.sum_gradients_({w}, &value);
    const bool stop = dp.any(dp.rank() == 1);
    return std::make_tuple(w.grad().clone(), value, stop);
  });
  for (const auto& [grad, value, stop] : results) {
    EXPECT_TRUE(at::allclose(grad, whole.grad(), 1e-6, 1e-7)) << grad << " vs " << whole.grad();
    EXPECT_NEAR(value, whole_loss.item<double>(), 1e-6 * std::abs(whole_loss.item<double>()));
    EXPECT_TRUE(stop);  // rank 1 asked to stop: both stop
  }
}

TEST(DataParallel, AMissingPeerEndsTheRendezvousWithANamedError) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  dist::LaunchEnv env;
  env.rank = 0;
  env.world_size = 2;
  env.master_port = dist::free_local_port();
  try {
    dist::connect(env, std::chrono::seconds(2));
    FAIL() << "connect returned without the second process";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rendezvous at 127.0.0.1:"), std::string::npos) << e.what();
  }
}

TEST(DataParallel, GlooServesCpuRunsAndGpuRunsOfABuildWithoutNccl) {
  if (!dist::has_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and rebuild)";
  auto describe = [](std::shared_ptr<dist::Communicator> comm) { return comm->backend() + " on " + comm->device().str(); };
  for (const auto& r : test::on_two_loopback_workers(describe)) EXPECT_EQ(r, "gloo on cpu");
  if (dist::has_nccl()) return;  // a CUDA device then gets NCCL, which needs a GPU (tests/search/cuda_device_test)
  // Without NCCL, a CUDA run's collectives go through Gloo on the host (connect() never tries NCCL).
  for (const auto& r : test::on_two_loopback_workers(describe, c10::Device(c10::kCUDA, 0))) EXPECT_EQ(r, "gloo on cpu");
  dist::LaunchEnv env;
  env.world_size = 2;
  try {
    dist::connect_nccl(env, std::chrono::seconds(1), c10::Device(c10::kCUDA, 0));
    FAIL() << "connect_nccl returned in a build without NCCL";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("this build has no NCCL"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bipeft
