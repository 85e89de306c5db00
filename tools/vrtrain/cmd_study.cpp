// `vrtrain study`: the built-in visual-region study (vr/study/study.h), run by the library
// (vr/study/study_runner.h): every arm as its own `vrtrain train` and `vrtrain eval` process, the pruning arms as
// `vrtrain prune` + `vrtrain eval`; then the compare report of all training runs and the verdict.
// Finished pieces are kept: rerunning the same command continues where an interrupted study stopped.
#include <cstdio>
#include <string>
#include <vector>

#include "vr/core/config.h"
#include "vr/study/study.h"
#include "vr/study/study_runner.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_study {  // not anonymous: unity builds put several commands in one translation unit

const char* kFooter = R"(Per seed (a seed sets the tiny model's weights, the data order and random selections): stage 1,
shared by every arm of the seed, tunes the whole random tiny model (LLM layers, embeddings, lm_head, projector) on
synthetic-shapes captions (base.*), like the pretrained LVLM the paper's arms all start from; then stage 2, one
`vrtrain train` per arm from that checkpoint on the question data (the arm's LLM layers + projector): full (all
layers), uniform (25 % evenly spaced: the paper's visual region), consecutive-first, consecutive-middle,
consecutive-last (25 % in one block), random (25 %), and 25 % by score: block_influence, attention, angular
(Gromov et al.), layer_contribution (ShortV), triplet (INTERLACE); then the uniform run's model pruned by `vrtrain
prune` (region: outside the tuned layers by block influence; angular: outside them by angular distance; bi: lowest
block influence; last: the top layers; heal: prune.heal_method, then lm_head + the last prune.heal_layers layers
trained prune.heal_steps steps), --set prune.remove=[2,4] layers. Accuracy: shapes questions on held-out images
(arm `base`: the stage-1 model before any arm). Text retention: loss of text.samples held-out captions (the stage-1
task) before and after each arm. `parallel` processes run at once, `train.threads` threads each.

Writes into --output (default runs/study): models/ (random tiny models), base/ (stage-1 runs), runs/<arm>-s<seed>/
(training runs with eval/), pruned/, logs/, compare/ (`vrtrain compare` of every arm's run), verdict.md,
verdict.json. Finished pieces are reused: rerun the same command to continue an interrupted study; delete the
directory to start over.

Study keys (--config FILE in YAML, or --set key=value):
)";

int run_study(const std::vector<std::string>& args) {
  vr::study::StudyConfig sc;
  vr::cli::ConfigFlags flags;
  vr::study::StudyRunOptions options;
  int64_t seeds = 0;
  CLI::App app = vr::cli::make_app(
      "study", "The visual-region study on synthetic shapes: selection strategies and pruning, verdict over seeds",
      kFooter + vr::describe_fields(sc));
  vr::cli::add_config_flags(app, flags);
  app.add_option("--seeds", seeds, "seeds per arm (same as --set seeds=K; default 2)")->type_name("K");
  app.add_option("--output", options.output, "study directory (default runs/study)")->type_name("DIR");
  if (auto code = vr::cli::parse(app, args)) return *code;
  for (const auto& f : flags.files) vr::load_yaml_config(sc, f);
  vr::apply_overrides(sc, flags.sets);
  if (seeds > 0) sc.seeds = seeds;
  options.exe = vr::cli::self_executable();
  options.say = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  const std::string md = vr::study::run_study(sc, options);
  std::printf("\n%s\nwrote %s/verdict.md, verdict.json, compare/\n", md.c_str(), options.output.c_str());
  return 0;
}

vr::cli::Registration registration_study{"study", "The visual-region study: strategies and pruning on synthetic shapes, with a verdict",
                          &run_study};

}  // namespace cmd_study
