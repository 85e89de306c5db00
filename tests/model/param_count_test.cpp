// Full-size configurations report the published parameter totals, computed from shapes only (no 8B allocation).
//
// Derivations (H hidden, I intermediate, L layers, V vocab, KV = nKV·head_dim):
//   Llama: V·H (embed) + L·(2·H·H + 2·H·KV + 3·H·I + 2·H) + H (norm) + V·H (lm_head)
//     Vicuna-7B   V 32000, H 4096, I 11008, L 32, KV 4096:  6,738,415,616
//     Vicuna-13B  V 32000, H 5120, I 13824, L 40, KV 5120: 13,015,864,320
//     Llama-3-8B  V 128256, H 4096, I 14336, L 32, KV 1024: 8,030,261,248
//   CLIP ViT-L/14-336 vision_model: class 1024 + conv 1024·3·14·14 + pos 577·1024 + pre-LN 2048
//     + 24·(4·(1024²+1024) + 4·1024 + (4096·1024+4096) + (1024·4096+1024)) + post-LN 2048 = 303,507,456
//   SigLIP so400m-patch14-384 vision_model: conv 1152·3·14·14+1152 + pos 729·1152
//     + 27·(4·(1152²+1152) + 4·1152 + (4304·1152+4304) + (1152·4304+1152)) + post-LN 2304
//     + head (probe 1152 + in_proj 3·1152²+3·1152 + out_proj 1152²+1152 + LN 2304 + MLP 9,921,872) = 428,225,600
//   Projector mlp2x_gelu (SPEC §1.5): 20,979,712 (1024→4096), 31,467,520 (1024→5120), 21,504,000 (1152→4096)
//   llava-1.5-7b-hf: Vicuna-7B with vocab 32064 (+2·64·4096) + CLIP + projector = 7,063,427,072
//   llava-1.5-13b-hf: Vicuna-13B with vocab 32064 (+2·64·5120) + CLIP + projector = 13,351,494,656
//   Bunny-Llama-3-8B-V: Llama-3-8B + SigLIP (with head) + projector = 8,479,990,848
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/model/lvlm.h"
#include "vr/model/model_configs.h"
#include "vr/core/error.h"

namespace model_param_count_test {

using namespace vr::model;

TEST(ParamCount, VisionTowers) {
  EXPECT_EQ(find_named_vision_config("openai/clip-vit-large-patch14-336")->num_parameters(), 303507456);
  EXPECT_EQ(find_named_vision_config("google/siglip-so400m-patch14-384")->num_parameters(), 428225600);
  EXPECT_EQ(find_named_vision_config("openai/clip-vit-large-patch14-336")->num_patches(), 576);
  EXPECT_EQ(find_named_vision_config("google/siglip-so400m-patch14-384")->num_patches(), 729);
  EXPECT_FALSE(find_named_vision_config("some/other-tower").has_value());
}

TEST(ParamCount, PublishedModelTotals) {
  auto l7 = named_lvlm_config("llava-1.5-7b");
  auto l13 = named_lvlm_config("llava-1.5-13b");
  auto bunny = named_lvlm_config("bunny-llama-3-8b-v");
  EXPECT_EQ(l7.num_parameters(), 7063427072);
  EXPECT_EQ(l13.num_parameters(), 13351494656);
  EXPECT_EQ(bunny.num_parameters(), 8479990848);
  EXPECT_EQ(bunny.text.num_parameters(), 8030261248);
  EXPECT_EQ(l7.image_seq_length(), 576);
  EXPECT_EQ(bunny.image_seq_length(), 729);
  // The LLMs at their original vocabulary (32000) are the published Vicuna totals.
  auto v7 = l7.text, v13 = l13.text;
  v7.vocab_size = v13.vocab_size = 32000;
  EXPECT_EQ(v7.num_parameters(), 6738415616);
  EXPECT_EQ(v13.num_parameters(), 13015864320);
  EXPECT_THROW(named_lvlm_config("llava-2"), vr::Error);
}

TEST(ParamCount, FormulaMatchesBuiltModules) {
  // Same formulas on small models that are actually built: every family feature (CLS, conv bias, head, GQA).
  for (bool clip : {true, false}) {
    LvlmConfig c = named_lvlm_config(clip ? "llava-1.5-7b" : "bunny-llama-3-8b-v");
    c.vision.hidden_size = 32; c.vision.intermediate_size = 40; c.vision.num_hidden_layers = 2;
    c.vision.num_attention_heads = 4; c.vision.image_size = 30; c.vision.patch_size = 14;
    c.text.vocab_size = 50; c.text.hidden_size = 24; c.text.intermediate_size = 36; c.text.num_hidden_layers = 2;
    c.text.num_attention_heads = 4; c.text.num_key_value_heads = clip ? 4 : 2;
    c.image_token_index = clip ? 49 : kLlavaImageTokenIndex;
    Lvlm m(c);
    int64_t built = 0;
    for (auto& p : m->parameters()) built += p.numel();
    EXPECT_EQ(built, c.num_parameters()) << (clip ? "clip" : "siglip");
  }
}

}  // namespace model_param_count_test
