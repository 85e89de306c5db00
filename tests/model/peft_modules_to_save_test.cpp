// PEFT adapters with modules_to_save: a LoRA run that also trains a module in full (the projector) stores that
// module's parameters whole beside A/B, as PEFT's save_pretrained does, and loading puts them back, so the
// adapter on the base model is the trained model (tests/e2e/hf_export_test.cpp checks the same with peft itself).
#include <memory>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/model/linear.h"
#include "vr/model/lora.h"

namespace model_peft_modules_to_save_test {

namespace {

// proj gets an adapter, head is trained in full.
struct PeftSaveNetImpl : torch::nn::Module {
  PeftSaveNetImpl() {
    proj = register_module("proj", torch::nn::Linear(6, 5));
    head = register_module("head", torch::nn::Linear(5, 3));
  }
  at::Tensor forward(const at::Tensor& x) { return head->forward(vr::model::apply_linear(proj, x)); }
  torch::nn::Linear proj{nullptr}, head{nullptr};
};
TORCH_MODULE(PeftSaveNet);

}  // namespace

TEST(PeftModulesToSave, FullyTrainedModulesTravelWithTheAdapter) {
  torch::manual_seed(0);
  PeftSaveNet trained;
  PeftSaveNet base;  // the "base model": same proj weights, an untrained head
  {
    torch::NoGradGuard ng;
    base->proj->weight.copy_(trained->proj->weight);
    base->proj->bias.copy_(trained->proj->bias);
  }
  vr::model::LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.target_modules = {"proj"};
  vr::model::apply_lora(*trained, lc, 1);
  {
    torch::NoGradGuard ng;
    trained->proj->named_parameters()["lora_B.weight"].normal_(0, 0.5);
  }
  lc.modules_to_save = {"head"};
  const auto dir = vr::test::temp_dir("peft_modules_to_save");
  vr::model::save_peft_adapter(*trained, lc, dir);

  const auto tensors = vr::load_safetensors(dir + "/adapter_model.safetensors");
  EXPECT_EQ(tensors.size(), 4u);  // proj.lora_A, proj.lora_B, head.weight, head.bias
  EXPECT_TRUE(torch::equal(tensors.at("base_model.model.head.weight"), trained->head->weight));
  EXPECT_EQ(vr::read_json_file(dir + "/adapter_config.json")["modules_to_save"], nlohmann::json::array({"head"}));

  auto loaded = vr::model::load_peft_adapter(*base, dir);
  EXPECT_EQ(loaded.modules_to_save, std::vector<std::string>{"head"});
  EXPECT_TRUE(torch::equal(base->head->weight, trained->head->weight));
  EXPECT_TRUE(torch::equal(base->head->bias, trained->head->bias));
  const auto x = torch::randn({4, 6});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(base->forward(x), trained->forward(x)));

  lc.modules_to_save = {"tail"};  // names nothing: an error, not an adapter that silently lacks it
  EXPECT_THROW(vr::model::save_peft_adapter(*trained, lc, vr::test::temp_dir("peft_modules_to_save_bad")), vr::Error);
}

}  // namespace model_peft_modules_to_save_test
