// Packed rows (data.packing) against the same samples unpacked, on tiny LLaVA (CLIP-style tower, Llama-2 MHA) and
// Bunny (SigLIP-style tower, Llama-3 GQA) models in fp32 on the CPU:
//   - logits at every real position of every sample equal those of the sample run alone (1e-5 absolute);
//   - with token normalisation (loss x supervised tokens, what train.loss_normalization=token backpropagates) the
//     packed micro-batch gives the unpacked micro-batch's loss and gradients (1e-5 relative, per tensor norm),
//     with and without gradient checkpointing and LoRA.
// Rows mix several samples, images (one sample with two) and text-only samples.
#include <cstdio>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/data/batch.h"
#include "vr/data/packing.h"
#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/model/lvlm.h"
#include "vr/train/lvlm_task.h"
#include "vr/model/tiny_model.h"

namespace model_packed_forward_test {

using vr::data::PreparedSample;
using vr::model::Lvlm;
using vr::model::LvlmInputs;

namespace {

// A sample of `len` ids with a placeholder (-200) at each of `images` positions; labels -100 on the first 3 ids
// (the prompt) and on placeholders, the id elsewhere.
PreparedSample make_sample(int64_t len, std::vector<int64_t> images, int64_t image_size, int64_t index) {
  PreparedSample s;
  s.index = index;
  s.id = "s" + std::to_string(index);
  auto ids = torch::randint(3, 200, {len}, torch::kInt64);
  for (int64_t i = 0; i < len; ++i) {
    int64_t id = ids[i].item<int64_t>();
    if (std::find(images.begin(), images.end(), i) != images.end()) id = -200;
    s.tokens.input_ids.push_back(id);
    s.tokens.labels.push_back(i < 3 || id == -200 ? -100 : id);
  }
  for (size_t k = 0; k < images.size(); ++k) s.pixels.push_back(torch::randn({3, image_size, image_size}));
  return s;
}

LvlmInputs alone(const PreparedSample& s) {
  LvlmInputs in;
  in.input_ids = torch::tensor(s.tokens.input_ids, torch::kInt64).unsqueeze(0);
  in.labels = torch::tensor(s.tokens.labels, torch::kInt64).unsqueeze(0);
  in.attention_mask = torch::ones_like(in.input_ids);
  if (!s.pixels.empty()) in.pixel_values = torch::stack(s.pixels);
  return in;
}

// As training runs the model, but with the logits returned (the test compares them).
LvlmInputs inputs_of(const vr::data::Batch& b) {
  LvlmInputs in = vr::train::model_inputs(b);
  in.return_logits = true;
  return in;
}

struct Case {
  std::string family;
  bool checkpointing = false;
  bool lora = false;
};

class PackingForward : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir_ = vr::test::temp_dir("packed_fwd") + "/m";
    vr::model::make_tiny_model(dir_, {GetParam().family, 11});
  }
  Lvlm load() const {
    Lvlm m = vr::model::load_lvlm(dir_);
    if (GetParam().lora) {
      vr::model::LoraConfig lc;
      lc.r = 4;
      lc.alpha = 8;
      lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
      vr::model::apply_lora(*m, lc, 3);
      torch::NoGradGuard ng;
      torch::manual_seed(5);
      for (auto& kv : m->named_parameters())  // non-zero adapters, so they change the logits
        if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.1);
    }
    m->language_model->set_gradient_checkpointing(GetParam().checkpointing);
    m->train();  // no dropout in these models; train() as a run has it
    return m;
  }
  // Two rows: [image, text-only, image] and [image, text-only, two images].
  std::vector<std::vector<PreparedSample>> rows(int64_t image_size) const {
    torch::manual_seed(17);
    return {{make_sample(11, {1}, image_size, 0), make_sample(9, {}, image_size, 1), make_sample(7, {2}, image_size, 2)},
            {make_sample(13, {1}, image_size, 3), make_sample(15, {}, image_size, 4),
             make_sample(10, {1, 5}, image_size, 5)}};
  }
  std::string dir_;
};

// Per-tensor relative distance of the gradients of every parameter that has one.
double worst_relative(const std::map<std::string, at::Tensor>& got, const std::map<std::string, at::Tensor>& exp,
                      std::string* where) {
  double worst = 0;
  for (const auto& [name, g] : exp) {
    const double denom = std::max(g.norm().item<double>(), 1e-30);
    const double rel = (got.at(name) - g).norm().item<double>() / denom;
    if (rel > worst) worst = rel, *where = name;
  }
  return worst;
}

std::map<std::string, at::Tensor> grads(Lvlm& m) {
  std::map<std::string, at::Tensor> g;
  for (auto& kv : m->named_parameters())
    if (kv.value().grad().defined()) g[kv.key()] = kv.value().grad().clone();
  return g;
}

}  // namespace

TEST_P(PackingForward, LogitsOfEverySampleEqualItsLogitsAlone) {
  Lvlm m = load();
  const int64_t S = m->config().vision.image_size, F = m->config().image_seq_length();
  auto packed_rows = rows(S);
  vr::data::CollateOptions co;
  co.model_max_length = 4096;
  torch::NoGradGuard ng;
  auto packed = m->forward(inputs_of(vr::data::collate_packed(packed_rows, co)));
  double worst = 0;
  for (size_t r = 0; r < packed_rows.size(); ++r) {
    int64_t offset = 0;
    for (const auto& s : packed_rows[r]) {
      auto ref = m->forward(alone(s));
      const int64_t M = ref.logits.size(1);
      EXPECT_EQ(M, static_cast<int64_t>(s.tokens.input_ids.size()) + static_cast<int64_t>(s.pixels.size()) * (F - 1));
      auto got = packed.logits[r].slice(0, offset, offset + M);
      worst = std::max(worst, (got - ref.logits[0]).abs().max().item<double>());
      EXPECT_TRUE(vr::test::all_close(got, ref.logits[0], 1e-5, 0, s.id + " logits"));
      // Its image slots and positions are its own: position ids restart at 0.
      EXPECT_TRUE(packed.merged_position_ids[r].slice(0, offset, offset + M).equal(torch::arange(M)));
      EXPECT_TRUE(packed.image_token_mask[r].slice(0, offset, offset + M).equal(ref.image_token_mask[0]));
      offset += M;
    }
    EXPECT_EQ(packed.merged_attention_mask[r].sum().item<int64_t>(), offset);
  }
  std::printf("[ packed ] %s ckpt=%d lora=%d: max |logit diff| over real positions %.3g\n",
              GetParam().family.c_str(), GetParam().checkpointing, GetParam().lora, worst);
}

TEST_P(PackingForward, TokenNormalisedLossAndGradientsEqualUnpacked) {
  Lvlm m = load();
  auto packed_rows = rows(m->config().vision.image_size);
  std::vector<PreparedSample> flat;
  for (const auto& r : packed_rows) flat.insert(flat.end(), r.begin(), r.end());
  vr::data::CollateOptions co;
  co.model_max_length = 4096;

  auto run = [&](LvlmInputs in, double* loss_sum, int64_t* supervised) {
    in.return_logits = false;  // training's supervised-only loss
    m->zero_grad();
    auto out = m->forward(in);
    *supervised = out.supervised_tokens;
    auto summed = out.loss * static_cast<double>(out.supervised_tokens);  // token normalisation's backward
    summed.backward();
    *loss_sum = summed.item<double>();
    return grads(m);
  };
  double unpacked_loss = 0, packed_loss = 0;
  int64_t unpacked_n = 0, packed_n = 0;
  auto gu = run(inputs_of(vr::data::collate(flat, co)), &unpacked_loss, &unpacked_n);
  auto gp = run(inputs_of(vr::data::collate_packed(packed_rows, co)), &packed_loss, &packed_n);
  EXPECT_EQ(packed_n, unpacked_n);
  EXPECT_GT(unpacked_n, 30);
  EXPECT_NEAR(packed_loss, unpacked_loss, 1e-5 * std::abs(unpacked_loss));
  ASSERT_EQ(gp.size(), gu.size());
  EXPECT_GT(gu.size(), 20u);
  std::string where;
  const double worst = worst_relative(gp, gu, &where);
  EXPECT_LE(worst, 1e-5) << where;
  std::printf("[ packed ] %s ckpt=%d lora=%d: loss sum %.8g vs %.8g (%lld tokens), worst gradient rel. diff %.3g (%s)\n",
              GetParam().family.c_str(), GetParam().checkpointing, GetParam().lora, packed_loss, unpacked_loss,
              static_cast<long long>(packed_n), worst, where.c_str());
}

INSTANTIATE_TEST_SUITE_P(Families, PackingForward,
                         ::testing::Values(Case{"llava", false, false}, Case{"llava", true, false},
                                           Case{"llava", false, true}, Case{"llava", true, true},
                                           Case{"bunny", false, false}, Case{"bunny", true, false},
                                           Case{"bunny", false, true}, Case{"bunny", true, true}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return i.param.family + (i.param.checkpointing ? "_ckpt" : "") +
                                  (i.param.lora ? "_lora" : "");
                         });

}  // namespace model_packed_forward_test
