// Typed YAML config: loading, every error kind, --set overrides, dump round trip, --help table.
#include "vr/core/config.h"

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"

namespace core_config_test {

namespace {

struct TestConfig : vr::Bindable {
  double lr = 2e-5;
  int64_t max_steps = 100;
  bool bf16 = true;
  std::string output_dir = "runs/x";
  std::string optimizer = "adamw";
  std::vector<int64_t> layers = {1, 5};
  std::vector<std::string> tags;
  int64_t seed = 0;
  void bind(vr::ConfigBinder& b) override {
    b.field("train.lr", lr, "peak learning rate");
    b.field("train.max_steps", max_steps, "optimizer steps");
    b.field("train.bf16", bf16, "bfloat16 autocast");
    b.field("output_dir", output_dir, "where runs go");
    b.choice("train.optim.name", optimizer, {"adamw", "sgd"}, "optimizer");
    b.field("select.layers", layers, "layer indices");
    b.field("select.tags", tags, "free-form tags");
    b.field("seed", seed, "random seed");
  }
};

using vr::test::error_of;

std::string load_error(const std::string& yaml) {
  TestConfig c;
  return error_of([&] { vr::load_yaml_string(c, yaml, "cfg.yaml"); });
}

}  // namespace

TEST(Config, LoadsNestedAndDottedKeys) {
  TestConfig c;
  vr::load_yaml_string(c,
                       "train:\n"
                       "  lr: 1.5e-4\n"
                       "  max_steps: 7\n"
                       "  bf16: false\n"
                       "  optim: {name: sgd}\n"
                       "select.layers: [0, 8, 16]\n"
                       "select:\n"
                       "  tags: [a, 'b c']\n"
                       "output_dir: /tmp/out\n"
                       "seed: 1e3\n",
                       "cfg.yaml");
  EXPECT_DOUBLE_EQ(c.lr, 1.5e-4);
  EXPECT_EQ(c.max_steps, 7);
  EXPECT_FALSE(c.bf16);
  EXPECT_EQ(c.optimizer, "sgd");
  EXPECT_EQ(c.layers, (std::vector<int64_t>{0, 8, 16}));
  EXPECT_EQ(c.tags, (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(c.output_dir, "/tmp/out");
  EXPECT_EQ(c.seed, 1000);
  // keys not mentioned keep their values; an empty document changes nothing
  TestConfig d;
  vr::load_yaml_string(d, "", "empty.yaml");
  vr::load_yaml_string(d, "train:\n", "empty_section.yaml");
  EXPECT_EQ(d.max_steps, 100);
}

TEST(Config, LoadsFromFile) {
  const std::string path = vr::test::temp_dir("cfg") + "/c.yaml";
  std::ofstream(path) << "train:\n  max_steps: 3\n  lr: fast\n";
  TestConfig c;
  std::string msg = error_of([&] { vr::load_yaml_config(c, path); });
  EXPECT_EQ(msg, path + ":3: train.lr: expected a number, got \"fast\"");
  EXPECT_NE(error_of([&] { vr::load_yaml_config(c, path + ".missing"); }).find("cannot open"), std::string::npos);
}

TEST(Config, UnknownKeysNameLineAndClosestKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"seed: 1\ntrain:\n  lrr: 0.1\n", "cfg.yaml:3: unknown key 'train.lrr' (did you mean 'train.lr'?)"},
      {"trian:\n  max_steps: 1\n", "cfg.yaml:2: unknown key 'trian.max_steps' (did you mean 'train.max_steps'?)"},
      {"lr: 1\n", "cfg.yaml:1: unknown key 'lr' (did you mean 'train.lr'?)"},
      {"banana_split: 1\n", "cfg.yaml:1: unknown key 'banana_split'"},
      // a typo is reported even when a later value is also wrong
      {"train:\n  lr: fast\nsede: 1\n", "cfg.yaml:3: unknown key 'sede' (did you mean 'seed'?)"},
      {"train: 5\n", "cfg.yaml:1: 'train' is a section: expected a map of settings, got 5"},
  };
  for (const auto& [yaml, message] : cases) EXPECT_EQ(load_error(yaml), message) << yaml;
}

TEST(Config, WrongTypesNamePathAndValue) {
  // (YAML, the error it must give)
  const std::pair<const char*, const char*> cases[] = {
      {"train:\n  lr: fast\n",
       "cfg.yaml:2: train.lr: expected a number, got \"fast\""},
      {"train:\n  max_steps: 2.5\n",
       "cfg.yaml:2: train.max_steps: expected an integer, got 2.5"},
      {"train:\n  max_steps: many\n",
       "cfg.yaml:2: train.max_steps: expected an integer, got \"many\""},
      {"seed: 99999999999999999999\n",
       "cfg.yaml:1: seed: integer 99999999999999999999 is out of range"},
      {"train:\n  bf16: yes\n",
       "cfg.yaml:2: train.bf16: expected true or false, got \"yes\""},
      {"train:\n  bf16: 1\n",
       "cfg.yaml:2: train.bf16: expected true or false, got 1"},
      {"train:\n  lr: [1, 2]\n",
       "cfg.yaml:2: train.lr: expected a number, got a list"},
      {"train:\n  lr: {a: 1}\n",
       "cfg.yaml:2: train.lr: expected a number, got a map"},
      {"output_dir: [a]\n",
       "cfg.yaml:1: output_dir: expected a string, got a list"},
      {"select:\n  layers: 5\n",
       "cfg.yaml:2: select.layers: expected a list, got 5"},
      {"select:\n  layers: [1, 2.5]\n",
       "cfg.yaml:2: select.layers: element 1: expected an integer, got 2.5"},
      {"select:\n  tags: [[a]]\n",
       "cfg.yaml:2: select.tags: expected a list of values, got an element that is a list"},
      {"train:\n  optim:\n    name: adamm\n",
       "cfg.yaml:3: train.optim.name: expected one of adamw, sgd, got \"adamm\" (did you mean 'adamw'?)"},
      {"seed:\n",
       "cfg.yaml:1: seed: expected an integer, got nothing (null)"},
  };
  for (const auto& [yaml, message] : cases) EXPECT_EQ(load_error(yaml), message) << yaml;
}

TEST(Config, MalformedDocuments) {
  std::string msg = load_error("train:\n  lr: [1, 2\n");
  EXPECT_EQ(msg.rfind("cfg.yaml:", 0), 0u) << msg;
  EXPECT_NE(msg.find("invalid YAML"), std::string::npos) << msg;
  EXPECT_EQ(load_error("- 1\n- 2\n"), "cfg.yaml:1: expected a map of settings at the top level, got a list");
  EXPECT_EQ(load_error("seed: 1\nseed: 2\n"), "cfg.yaml:2: key 'seed' is set twice (first at line 1)");
  EXPECT_EQ(load_error("train.lr: 1\ntrain:\n  lr: 2\n"), "cfg.yaml:3: key 'train.lr' is set twice (first at line 1)");
}

TEST(Config, Overrides) {
  TestConfig c;
  vr::apply_overrides(c, {"train.lr=3e-4", "train.max_steps=12", "train.bf16=false", "select.layers=1,5,9",
                          "select.tags=[x, \"y\"]", "output_dir=/a/b: c", "train.optim.name=sgd"});
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_EQ(c.max_steps, 12);
  EXPECT_FALSE(c.bf16);
  EXPECT_EQ(c.layers, (std::vector<int64_t>{1, 5, 9}));
  EXPECT_EQ(c.tags, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c.output_dir, "/a/b: c");  // strings are taken verbatim
  EXPECT_EQ(c.optimizer, "sgd");
  vr::apply_overrides(c, {"select.layers=[2, 4]"});
  EXPECT_EQ(c.layers, (std::vector<int64_t>{2, 4}));
  vr::apply_overrides(c, {"select.layers=[]"});
  EXPECT_TRUE(c.layers.empty());
  vr::apply_overrides(c, {"select.layers=7"});
  EXPECT_EQ(c.layers, (std::vector<int64_t>{7}));

  EXPECT_EQ(error_of([&] { vr::apply_overrides(c, {"train.lrr=1"}); }),
            "--set train.lrr=1: unknown key 'train.lrr' (did you mean 'train.lr'?)");
  EXPECT_EQ(error_of([&] { vr::apply_overrides(c, {"train.lr=fast"}); }),
            "--set train.lr=fast: train.lr: expected a number, got \"fast\"");
  EXPECT_EQ(error_of([&] { vr::apply_overrides(c, {"select.layers=1,x"}); }),
            "--set select.layers=1,x: select.layers: element 1: expected an integer, got \"x\"");
  EXPECT_EQ(error_of([&] { vr::apply_overrides(c, {"train.max_steps=2.5"}); }),
            "--set train.max_steps=2.5: train.max_steps: expected an integer, got 2.5");
  EXPECT_EQ(error_of([&] { vr::apply_overrides(c, {"train.lr"}); }),
            "--set 'train.lr': expected key=value, e.g. train.lr=1e-4");
}

TEST(Config, DumpRoundTrip) {
  TestConfig c;
  c.lr = 1.0 / 3.0;
  c.max_steps = -7;
  c.output_dir = "null";  // strings that look like other YAML types must stay strings
  c.tags = {"true", "", "a: b", "#x"};
  c.layers = {};
  c.seed = std::numeric_limits<int64_t>::max();
  const std::string yaml = vr::dump_yaml(c);
  TestConfig d;
  d.tags = {"other"};
  d.layers = {9};
  vr::load_yaml_string(d, yaml, "dump");
  EXPECT_EQ(d.lr, c.lr) << yaml;  // bit-exact double
  EXPECT_EQ(d.max_steps, c.max_steps);
  EXPECT_EQ(d.output_dir, "null");
  EXPECT_EQ(d.tags, c.tags);
  EXPECT_EQ(d.layers, c.layers);
  EXPECT_EQ(d.seed, c.seed);
  EXPECT_EQ(vr::dump_yaml(d), yaml);

  // nested layout, sections grouped where they first appear
  TestConfig e;
  EXPECT_EQ(vr::dump_yaml(e),
            "train:\n"
            "  lr: 2e-05\n"
            "  max_steps: 100\n"
            "  bf16: true\n"
            "  optim:\n"
            "    name: \"adamw\"\n"
            "output_dir: \"runs/x\"\n"
            "select:\n"
            "  layers: [1, 5]\n"
            "  tags: []\n"
            "seed: 0\n");
  // special floats survive too
  e.lr = INFINITY;
  TestConfig f;
  vr::load_yaml_string(f, vr::dump_yaml(e));
  EXPECT_TRUE(std::isinf(f.lr));
  e.lr = 1.0;
  vr::load_yaml_string(f, vr::dump_yaml(e));
  EXPECT_EQ(f.lr, 1.0);
  EXPECT_NE(vr::dump_yaml(e).find("lr: 1.0\n"), std::string::npos);
}

TEST(Config, DescribeFields) {
  TestConfig c;
  std::string text = vr::describe_fields(c);
  EXPECT_NE(text.find("train.lr"), std::string::npos);
  EXPECT_NE(text.find("float"), std::string::npos);
  EXPECT_NE(text.find("2e-05"), std::string::npos);
  EXPECT_NE(text.find("peak learning rate"), std::string::npos);
  EXPECT_NE(text.find("{adamw|sgd}"), std::string::npos);
  EXPECT_NE(text.find("list of int"), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 8);
}

// Two settings bound under the keys given.
struct TwoKeys : vr::Bindable {
  TwoKeys(const char* first, const char* second) : first_key(first), second_key(second) {}
  const char *first_key, *second_key;
  int64_t a = 0, b = 0;
  void bind(vr::ConfigBinder& bb) override {
    bb.field(first_key, a, "");
    bb.field(second_key, b, "");
  }
};

TEST(Config, BindingMistakesAreReported) {
  TwoKeys twice("x", "x"), nested("x", "x.y");
  EXPECT_NE(error_of([&] { vr::dump_yaml(twice); }).find("bound twice"), std::string::npos);
  EXPECT_NE(error_of([&] { vr::dump_yaml(nested); }).find("section"), std::string::npos);
}

TEST(Config, ClosestMatch) {
  const std::vector<std::string> keys = {"train.lr", "train.max_steps", "data.path", "seed"};
  EXPECT_EQ(vr::closest_match("train.lrr", keys), "train.lr");
  EXPECT_EQ(vr::closest_match("max_steps", keys), "train.max_steps");
  EXPECT_EQ(vr::closest_match("data.pth", keys), "data.path");
  EXPECT_EQ(vr::closest_match("completely_unrelated", keys), "");
  EXPECT_EQ(vr::closest_match("x", {}), "");
}

}  // namespace core_config_test
