// Editing num_hidden_layers in config.json text: only that value's bytes change.
#include <gtest/gtest.h>

#include "vr/core/error.h"
#include "vr/prune/json_text_edit.h"

namespace prune_json_text_edit_test {

using vr::prune::set_json_integer_in_text;

TEST(JsonTextEdit, ReplacesOnlyTheValueAtThePath) {
  const std::string src =
      "{\n  \"rms_norm_eps\": 1e-05,\n  \"text_config\": {\n    \"num_hidden_layers\": 5,\n    \"rope_theta\": "
      "500000.0\n  },\n  \"vision_config\": {\n    \"num_hidden_layers\": 3\n  }\n}\n";
  const std::string got = set_json_integer_in_text(src, {"text_config", "num_hidden_layers"}, 12, "c.json");
  std::string want = src;
  const std::string key = "\"num_hidden_layers\": 5";
  want.replace(want.find(key) + key.size() - 1, 1, "12");
  EXPECT_EQ(got, want);
  const std::string top = "{\"a\": [1, {\"num_hidden_layers\": 9}], \"num_hidden_layers\": 32}";
  EXPECT_EQ(set_json_integer_in_text(top, {"num_hidden_layers"}, 30, "c.json"),
            "{\"a\": [1, {\"num_hidden_layers\": 9}], \"num_hidden_layers\": 30}");
}

TEST(JsonTextEdit, InsertsAMissingKeyOrObjectAsTheFirstMember) {
  const std::string src = "{\n  \"model_type\": \"llava\",\n  \"text_config\": {\n    \"vocab_size\": 32064\n  }\n}";
  EXPECT_EQ(set_json_integer_in_text(src, {"text_config", "num_hidden_layers"}, 30, "c.json"),
            "{\n  \"model_type\": \"llava\",\n  \"text_config\": {\n    \"num_hidden_layers\": 30,\n    \"vocab_size\": "
            "32064\n  }\n}");
  EXPECT_EQ(set_json_integer_in_text("{\"model_type\": \"llava\"}", {"text_config", "num_hidden_layers"}, 2, "c.json"),
            "{\"text_config\": {\"num_hidden_layers\": 2},\"model_type\": \"llava\"}");
  EXPECT_EQ(set_json_integer_in_text("{}", {"num_hidden_layers"}, 2, "c.json"), "{\"num_hidden_layers\": 2}");
}

TEST(JsonTextEdit, BadJsonNamesTheFile) {
  try {
    set_json_integer_in_text("{\"a\": ", {"a"}, 1, "bad/config.json");
    FAIL();
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad/config.json"), std::string::npos);
  }
  EXPECT_THROW(set_json_integer_in_text("{\"text_config\": 3}", {"text_config", "n"}, 1, "c"), vr::Error);
}

}  // namespace prune_json_text_edit_test
