// ZeRO (dist.shard_optimizer): AdamW sharded over two ranks (threads of this process, Gloo on loopback) against
// the same data-parallel run with an unsharded AdamW, accumulation 2.
//
// Tolerance: ZeRO-1 (one reduction per step) sums the gradients in the unsharded order, and the sharded update is
// the unsharded one element for element (same AdamW operations on a copy of the same fp32 master); clipping
// applies the same fp32 factor (the norm is summed in fp64, which cutting the gradients into pieces does not
// change): weights and state must be bit-identical, with and without clipping. ZeRO-2 sums over ranks first and
// over micro-batches second ((g00 + g10) + (g01 + g11) instead of (g00 + g01) + (g10 + g11)): last-bit
// differences, |Δw| <= 1e-6 after 3 steps of lr <= 1e-2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distributed/two_ranks.h"
#include "vr/distributed/data_parallel.h"
#include "vr/train/optimizer.h"

namespace distributed_zero_test {

namespace {

using vr::train::AdamW;
using vr::train::ParamGroup;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

void two_ranks(bool shard, double bucket_mb, const std::function<void(int64_t, vr::distributed::DataParallel)>& body,
               int64_t zero_stage = 1) {
  vr::test::run_two_ranks(bucket_mb, shard, body, zero_stage);
}

// Odd sizes (padding, partitions cutting tensors), three groups with their own lr / decay; no global RNG.
struct Model {
  at::Tensor w1 = (torch::arange(15, torch::kFloat).reshape({5, 3}) * 0.07f - 0.4f).requires_grad_();
  at::Tensor b1 = (torch::arange(7, torch::kFloat) * -0.05f).requires_grad_();
  at::Tensor w2 = (torch::arange(12, torch::kFloat).reshape({3, 4}).cos() * 0.3f).requires_grad_();
  Named named() const { return {{"w1", w1}, {"b1", b1}, {"w2", w2}}; }
  std::vector<at::Tensor> list() const { return {w1, b1, w2}; }
  std::vector<ParamGroup> groups() const {
    return {ParamGroup{"a", 1e-2, 0.1, {"w1"}, {w1}}, ParamGroup{"a_nd", 1e-2, 0.0, {"b1"}, {b1}},
            ParamGroup{"b", 5e-3, 0.05, {"w2"}, {w2}}};
  }
  // Rank- and micro-batch-dependent, nonlinear in the weights (so the updates feed back).
  at::Tensor loss(int64_t rank, int64_t step, int64_t micro) const {
    const double x = 1.0 + 0.5 * static_cast<double>(rank) + 0.25 * static_cast<double>(micro) + 0.1 * step;
    return (w1 * x).tanh().sum() + (b1 * b1 * x).sum() + (w2.pow(3) * (x - 1.2)).sum() * 0.5;
  }
};

// Runs `steps` data-parallel steps (accumulation 2) from the optimizer's current state.
void train(int64_t r, Model& m, vr::distributed::GradientReducer& sync, AdamW& opt, int64_t first, int64_t steps,
           double max_norm) {
  for (int64_t s = first; s < first + steps; ++s) {
    opt.zero_grad();
    for (int64_t a = 0; a < 2; ++a) {
      sync.begin_micro_batch(a == 1);
      (m.loss(r, s, a) / 2.0).backward();
      if (a == 0) sync.end_micro_batch();
    }
    sync.synchronize(m.list());
    if (opt.sharded()) opt.clip_grad_norm(max_norm);
    else vr::train::clip_grad_norm(m.list(), max_norm);
    opt.step(1.0 - 0.1 * static_cast<double>(s));
  }
}

struct Outcome {
  std::vector<at::Tensor> weights[2];
  std::map<std::string, at::Tensor> state;  // rank 0's state_dict
  int64_t state_elements = 0;
};

Outcome run(bool shard, double bucket_mb, double max_norm, int64_t zero_stage = 1) {
  Outcome out;
  two_ranks(shard, bucket_mb, [&](int64_t r, vr::distributed::DataParallel dp) {
    Model m;
    dp.reducer->attach(m.named());
    AdamW opt(m.groups(), {}, dp.reducer, dp.comm);
    EXPECT_EQ(opt.sharded(), shard);
    train(r, m, *dp.reducer, opt, 0, 3, max_norm);
    auto state = opt.state_dict();  // collective when sharded
    for (auto& t : m.list()) out.weights[r].push_back(t.detach().clone());
    if (r == 0) {
      out.state = state;
      out.state_elements = opt.num_state_elements();
    } else if (shard) {
      EXPECT_EQ(state.size(), 1u) << "only rank 0 holds the gathered state (and 'step')";
    }
  }, zero_stage);
  return out;
}

double max_diff(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

}  // namespace

TEST(Zero, ShardedAdamWEqualsUnshardedOnTwoRanks) {
  // One bucket (partitions cut through tensors) and one bucket per tensor (padding in every bucket).
  for (double bucket_mb : {25.0, 1e-5}) {
    SCOPED_TRACE(bucket_mb);
    Outcome plain = run(false, bucket_mb, 0), zero = run(true, bucket_mb, 0);
    for (int r = 0; r < 2; ++r)
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(torch::equal(zero.weights[r][i], plain.weights[0][i])) << "rank " << r << " tensor " << i;
        EXPECT_FALSE(torch::equal(zero.weights[r][i], Model().list()[i])) << "tensor " << i << " never updated";
      }
    ASSERT_EQ(zero.state.size(), plain.state.size());
    for (const auto& [k, v] : plain.state) EXPECT_TRUE(torch::equal(zero.state.at(k), v.cpu())) << k;
    // 34 elements: unsharded 2 moments (fp32 params are their own masters) = 68; sharded 3 x ~17 (+ padding).
    EXPECT_EQ(plain.state_elements, 68);
    EXPECT_LE(zero.state_elements, bucket_mb > 1 ? 3 * 17 : 3 * (8 + 4 + 6));

    Outcome plain_clip = run(false, bucket_mb, 0.5), zero_clip = run(true, bucket_mb, 0.5);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(torch::equal(zero_clip.weights[0][i], plain_clip.weights[0][i])) << "clipped, tensor " << i;
    // Gradient norms are ~5 here, so max_norm 0.5 clips (AdamW is nearly scale-invariant: small differences).
    EXPECT_GT(max_diff(plain_clip.weights[0], plain.weights[0]), 0.0) << "max_norm 0.5 should clip";
  }
}

// ZeRO-2: every micro-batch is reduce-scattered into the partition as its backward ends, its full-size gradients
// freed (none is left in .grad() between micro-batches), and the step sends the buckets once per micro-batch.
// The weights equal ZeRO-1's but for the order of the sums (see above).
TEST(Zero, StageTwoReducesEveryMicroBatchIntoThePartitionAndKeepsNoFullGradient) {
  for (double bucket_mb : {25.0, 1e-5}) {
    SCOPED_TRACE(bucket_mb);
    std::vector<at::Tensor> weights[2];
    two_ranks(true, bucket_mb, [&](int64_t r, vr::distributed::DataParallel dp) {
      Model m;
      dp.reducer->attach(m.named());
      AdamW opt(m.groups(), {}, dp.reducer, dp.comm);
      EXPECT_TRUE(dp.reducer->reduces_every_micro_batch());
      for (int64_t s = 0; s < 3; ++s) {
        opt.zero_grad();
        dp.reducer->begin_micro_batch(false);
        (m.loss(r, s, 0) / 2.0).backward();
        dp.reducer->end_micro_batch();
        for (const auto& t : m.list()) EXPECT_FALSE(t.grad().defined()) << "a full-size gradient outlived its bucket";
        const at::Tensor first = dp.reducer->gradient_shard().clone();
        EXPECT_GT(first.abs().sum().item<double>(), 0.0) << "micro-batch 0 was not reduced into the partition";
        dp.reducer->begin_micro_batch(true);
        (m.loss(r, s, 1) / 2.0).backward();
        dp.reducer->synchronize(m.list());
        for (const auto& t : m.list()) EXPECT_FALSE(t.grad().defined());
        EXPECT_FALSE(torch::equal(dp.reducer->gradient_shard(), first / 2)) << "micro-batch 1 was not added";
        // 34 elements + padding, fp32, sent once per micro-batch.
        EXPECT_EQ(dp.reducer->bytes_last_step(), 2 * 4 * 34);
        opt.clip_grad_norm(0.5);
        opt.step(1.0 - 0.1 * static_cast<double>(s));
      }
      for (auto& t : m.list()) weights[r].push_back(t.detach().clone());
    }, /*zero_stage=*/2);
    const Outcome stage1 = run(true, bucket_mb, 0.5);
    for (int r = 0; r < 2; ++r) EXPECT_LE(max_diff(weights[r], stage1.weights[0]), 1e-6) << "rank " << r;
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(weights[0][i], weights[1][i])) << "ranks differ, " << i;
  }
}

// A sharded optimizer that loads a full state (what a checkpoint holds, from any world size) mid-run continues
// exactly as the unsharded one that wrote it; the parameters take the checkpoint's masters.
TEST(Zero, ShardedLoadOfAFullStateContinuesIdentically) {
  Outcome plain = run(false, 1e-5, 0);  // 3 steps
  std::map<std::string, at::Tensor> after2;
  std::vector<at::Tensor> weights2;
  two_ranks(false, 1e-5, [&](int64_t r, vr::distributed::DataParallel dp) {
    Model m;
    dp.reducer->attach(m.named());
    AdamW opt(m.groups(), {}, dp.reducer, dp.comm);
    train(r, m, *dp.reducer, opt, 0, 2, 0);
    auto s = opt.state_dict();
    if (r == 0) after2 = s;
  });
  std::vector<at::Tensor> resumed[2];
  two_ranks(true, 25, [&](int64_t r, vr::distributed::DataParallel dp) {
    Model m;  // initial weights: the load must replace them
    dp.reducer->attach(m.named());
    AdamW opt(m.groups(), {}, dp.reducer, dp.comm);
    opt.load_state_dict(after2);
    EXPECT_EQ(opt.step_count(), 2);
    train(r, m, *dp.reducer, opt, 2, 1, 0);
    for (auto& t : m.list()) resumed[r].push_back(t.detach().clone());
  });
  for (int r = 0; r < 2; ++r)
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(resumed[r][i], plain.weights[0][i])) << r << " " << i;
}

}  // namespace distributed_zero_test
