// The data-parallel communicator and gradient reducer with two ranks as two threads of this process, over Gloo on loopback.
#include "vr/distributed/data_parallel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distributed/two_ranks.h"
#include "vr/core/error.h"

namespace distributed_data_parallel_test {

namespace {

using vr::distributed::Communicator;
using vr::distributed::GradientReducer;

// Runs body(rank, comm, reducer) on two threads, each with its own rank's pair; rethrows a failure.
void two_ranks(double bucket_mb, const std::function<void(int64_t, Communicator&, GradientReducer&)>& body) {
  vr::test::run_two_ranks(bucket_mb, /*shard_optimizer=*/false,
                          [&](int64_t r, vr::distributed::DataParallel dp) { body(r, *dp.comm, *dp.reducer); });
}

struct Params {
  at::Tensor a, b, c;  // a: used by both ranks; b: only by rank 0; c: by nobody
  std::vector<std::pair<std::string, at::Tensor>> named() const { return {{"a", a}, {"b", b}, {"c", c}}; }
  std::vector<at::Tensor> list() const { return {a, b, c}; }
};

// Different on every rank on purpose (attach broadcasts rank 0's); no global RNG (the ranks are threads).
at::Tensor init_of(int64_t rank, int64_t n) { return torch::arange(n, torch::kFloat) * 0.1f + static_cast<float>(rank); }

Params make_params(int64_t rank) {
  return {init_of(rank, 6).reshape({2, 3}).requires_grad_(), init_of(rank, 4).requires_grad_(),
          init_of(rank, 5).requires_grad_()};
}

at::Tensor x_of(int64_t rank, int64_t micro) { return torch::full({2, 3}, static_cast<double>(1 + rank + 10 * micro)); }

}  // namespace

TEST(DataParallelSync, AveragesGradientsWithAccumulationAndUnusedParameters) {
  for (double bucket_mb : {25.0, 1e-5}) {  // one bucket; one bucket per tensor (ordering across buckets)
    std::vector<at::Tensor> grads[2], weights[2];
    int64_t bytes[2] = {0, 0};
    two_ranks(bucket_mb, [&](int64_t r, Communicator&, GradientReducer& sync) {
      Params p = make_params(r);
      sync.attach(p.named());
      for (int64_t step = 0; step < 2; ++step) {
        for (auto& t : p.list()) t.mutable_grad() = at::Tensor();
        for (int64_t m = 0; m < 2; ++m) {  // accumulation 2: only the second micro-batch communicates
          sync.begin_micro_batch(m == 1);
          at::Tensor loss = (p.a * x_of(r, m)).sum() * 0.5;
          if (r == 0) loss = loss + (p.b * 3.0).sum() * 0.5;
          loss.backward();
        }
        sync.synchronize(p.list());
      }
      for (auto& t : p.list()) grads[r].push_back(t.grad().clone());
      for (auto& t : p.list()) weights[r].push_back(t.detach().clone());
      bytes[r] = sync.bytes_last_step();
    });
    // Rank r's accumulated gradient of a: (x(r,0) + x(r,1)) / 2; the average over ranks: (1+11+2+12)/4 = 6.5.
    EXPECT_TRUE(torch::allclose(grads[0][0], torch::full({2, 3}, 6.5))) << grads[0][0];
    EXPECT_TRUE(torch::allclose(grads[0][1], torch::full({4}, 1.5))) << grads[0][1];  // rank 1 took part with zeros
    EXPECT_TRUE(torch::equal(grads[0][2], torch::zeros({5})));                      // nobody: zeros everywhere
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(torch::equal(grads[0][i], grads[1][i])) << "gradient " << i << " differs between ranks";
      EXPECT_TRUE(torch::equal(weights[0][i], weights[1][i])) << "weight " << i << " not broadcast from rank 0";
    }
    EXPECT_TRUE(torch::equal(weights[1][0], init_of(0, 6).reshape({2, 3})));  // rank 0's initialisation won
    EXPECT_EQ(bytes[0], (6 + 4 + 5) * 4);
  }
}

TEST(DataParallelSync, StepScalarsAndWeightCheck) {
  std::string errors[2];
  two_ranks(25, [&](int64_t r, Communicator& sync, GradientReducer& reducer) {
    Params p = make_params(r);
    reducer.attach(p.named());
    auto s = sync.all_reduce_sum({1.0, static_cast<double>(r + 1)});
    EXPECT_EQ(s[0], 2.0);
    EXPECT_EQ(s[1], 3.0);
    EXPECT_EQ(sync.verify_identical(p.named(), true, "in the test"), 3);
    if (r == 1) {
      torch::NoGradGuard g;
      p.c[2].add_(1e-6);
    }
    try {
      sync.verify_identical(p.named(), true, "after the change");
    } catch (const vr::Error& e) {
      errors[r] = e.what();
    }
  });
  for (const auto& e : errors) EXPECT_NE(e.find("'c' differs between ranks after the change"), std::string::npos) << e;
}

TEST(DataParallelSync, SingleProcessWhenWorldIsOne) {
  vr::distributed::DistEnv env;
  auto dp = vr::distributed::make_data_parallel(env, {});
  EXPECT_EQ(dp.comm->world_size(), 1);
  EXPECT_EQ(dp.comm->describe(), "single process");
  EXPECT_FALSE(dp.reducer->sharded());
}

}  // namespace distributed_data_parallel_test
