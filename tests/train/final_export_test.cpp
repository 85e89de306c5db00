// final/ for a LoRA run: the merged checkpoint holds only the base tensors (transformers reports lora_A/lora_B as
// unexpected keys otherwise) and runs the same model as the unmerged one; the adapter sits beside it.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/torch_pickle.h"
#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/model/lvlm.h"
#include "vr/train/final_export.h"
#include "vr/model/tiny_model.h"

namespace train_final_export_test {

namespace fs = std::filesystem;

TEST(FinalExport, MergedLoraHoldsOnlyBaseTensorsAndMatchesTheUnmergedModel) {
  const std::string root = vr::test::temp_dir("final_export");
  const std::string src = root + "/tiny", out = root + "/final";
  vr::model::make_tiny_model(src, {"llava", 3, 2, 32});
  auto m = vr::model::load_lvlm(src);
  vr::model::LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.target_modules = {"q_proj", "v_proj"};
  vr::model::apply_lora(*m->language_model, lc, 1);
  {
    torch::NoGradGuard ng;  // non-zero B, so merging changes the weights
    for (auto& kv : m->named_parameters())
      if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.5);
  }
  m->eval();
  torch::manual_seed(2);
  vr::model::LvlmInputs in;
  in.input_ids = torch::randint(3, 200, {1, 6}, torch::kInt64);
  in.input_ids.index_put_({0, 1}, -200);
  in.attention_mask = torch::ones_like(in.input_ids);
  const int64_t s = m->config().vision.image_size;
  in.pixel_values = torch::randn({1, 3, s, s});
  torch::NoGradGuard ng;
  auto want = m->forward(in).logits;

  vr::train::export_lvlm(m, out, /*lora=*/true, src);
  for (const auto& [name, t] : vr::load_tensors(out))
    EXPECT_EQ(name.find("lora_"), std::string::npos) << "merged export carries " << name;
  EXPECT_TRUE(fs::exists(fs::path(out) / "adapter" / "adapter_config.json"));
  auto merged = vr::model::load_lvlm(out);
  merged->eval();
  EXPECT_TRUE(vr::test::all_close(merged->forward(in).logits, want, 1e-5, 1e-4, "merged logits"));
  // Saving an unmerged adapter as full weights would drop its delta silently: an error instead.
  EXPECT_THROW(vr::model::save_lvlm(m, root + "/unmerged"), vr::Error);
}

}  // namespace train_final_export_test
