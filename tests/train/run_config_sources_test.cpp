// A run's settings come from sources applied in order (YAML files, then the command line); within a source a
// layer list means selection.strategy=manual (vr/train/run_config.h).
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/train/run_config.h"

namespace train_run_config_sources_test {

using vr::train::RunConfig;

namespace {

using vr::test::error_of;

std::string write_yaml(const std::string& text) {
  const std::string path = vr::test::temp_dir("run_config_sources") + "/run.yaml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(RunConfigSources, LayerListMeansManual) {
  RunConfig c;
  c.model.path = "models/tiny";
  vr::train::load_run_config_file(c, write_yaml("selection:\n  strategy: uniform\n  fraction: 0.5\n"));
  EXPECT_EQ(c.selection.strategy, "uniform");
  vr::train::apply_run_overrides(c, {"selection.layers=1,5"});  // the list alone: manual
  EXPECT_EQ(c.selection.strategy, "manual");
  EXPECT_EQ(c.selection.layers, (std::vector<int64_t>{1, 5}));
  c.validate();
  // Another strategy later drops the list (a config with a manual list, then --set selection.strategy=uniform).
  vr::train::apply_run_overrides(c, {"selection.strategy=uniform"});
  EXPECT_EQ(c.selection.strategy, "uniform");
  EXPECT_TRUE(c.selection.layers.empty());
  c.validate();
  // A file with a list and no strategy is manual too; manual named with its list is fine.
  RunConfig d;
  vr::train::load_run_config_file(d, write_yaml("selection:\n  layers: [2, 6]\n"));
  EXPECT_EQ(d.selection.strategy, "manual");
  vr::train::apply_run_overrides(d, {"selection.strategy=manual", "selection.layers=[3]"});
  EXPECT_EQ(d.selection.layers, (std::vector<int64_t>{3}));
  // Unrelated keys leave both alone.
  vr::train::apply_run_overrides(d, {"train.max_steps=3"});
  EXPECT_EQ(d.selection.strategy, "manual");
  EXPECT_EQ(d.selection.layers, (std::vector<int64_t>{3}));
}

TEST(RunConfigSources, ListWithAnotherStrategyIsAnError) {
  RunConfig c;
  std::string e = error_of([&] { vr::train::apply_run_overrides(c, {"selection.strategy=random", "selection.layers=1,5"}); });
  EXPECT_NE(e.find("selection.layers [1, 5]"), std::string::npos) << e;
  EXPECT_NE(e.find("'random'"), std::string::npos) << e;
  e = error_of([&] { vr::train::load_run_config_file(c, write_yaml("selection:\n  strategy: uniform\n  layers: [1]\n")); });
  EXPECT_NE(e.find("run.yaml"), std::string::npos) << e;
  // Set in code, bypassing the sources: validate() names the mismatch.
  RunConfig d;
  d.model.path = "models/tiny";
  d.selection.layers = {1, 5};
  e = error_of([&] { d.validate(); });
  EXPECT_NE(e.find("selection.strategy is 'uniform'"), std::string::npos) << e;
}

}  // namespace train_run_config_sources_test
