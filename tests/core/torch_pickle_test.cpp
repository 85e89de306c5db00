// torch.save zip pickles read with LibTorch's unpickler (no Python): files in the exact torch.save format written
// by tests/data_files/torch_save/make_files.py (which emulates torch's pickler without torch), and round trips.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/torch_pickle.h"

namespace core_torch_pickle_test {

using namespace vr;

namespace {
std::string data_file(const std::string& name) { return std::string(VR_TEST_DATA_DIR) + "/torch_save/" + name; }
}  // namespace

TEST(TorchPickle, TorchSavePicklesFromPython) {
  // Files in torch.save's zip format written by tests/data_files/torch_save/make_files.py.
  auto sd = load_torch_pickle(data_file("mm_projector.bin"));
  ASSERT_EQ(sd.size(), 4u);
  auto w0 = sd.at("model.mm_projector.0.weight");
  EXPECT_EQ(w0.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(torch::equal(w0, torch::tensor({1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f}).view({2, 3})));
  EXPECT_TRUE(torch::equal(sd.at("model.mm_projector.2.bias"), torch::tensor({2.0f, 2.5f})));

  EXPECT_THROW(load_torch_pickle(data_file("not_a_dict.bin")), vr::Error);
  EXPECT_THROW(load_torch_pickle(data_file("with_int.bin")), vr::Error);
  EXPECT_THROW(load_torch_pickle(data_file("make_files.py")), vr::Error);  // not a zip
  EXPECT_THROW(load_torch_pickle(data_file("missing.bin")), vr::Error);
}

TEST(TorchPickle, TorchPickleRoundTripIsBitExact) {
  vr::StateDict sd = {{"a", torch::randn({3, 4})}, {"b", torch::randn({5}).to(torch::kBFloat16)},
                      {"c", torch::arange(6).view({2, 3})}};
  auto path = vr::test::temp_dir("pickle") + "/x.bin";
  save_torch_pickle(path, sd);
  auto back = load_torch_pickle(path);
  ASSERT_EQ(back.size(), 3u);
  for (auto& [k, t] : sd) {
    EXPECT_EQ(back.at(k).scalar_type(), t.scalar_type());
    EXPECT_TRUE(torch::equal(back.at(k), t)) << k;
  }
}

TEST(TorchPickle, TopLevelOrderedDictIsLoadedOrRejectedCleanly) {
  // HF's pytorch_model.bin pickles an OrderedDict (state_dict()). LibTorch's unpickler may not rebuild it; either
  // it loads exactly like the plain dict, or the failure is a vr::Error naming the file (never a crash).
  const auto path = data_file("ordered_dict.bin");
  try {
    auto sd = load_torch_pickle(path);
    auto plain = load_torch_pickle(data_file("mm_projector.bin"));
    ASSERT_EQ(sd.size(), plain.size());
    for (auto& [k, t] : plain) EXPECT_TRUE(torch::equal(sd.at(k), t)) << k;
    std::printf("[ info ] OrderedDict pickle: loaded\n");
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    std::printf("[ info ] OrderedDict pickle: rejected: %s\n", e.what());
  }
}

}  // namespace core_torch_pickle_test
