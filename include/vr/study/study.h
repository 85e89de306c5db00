// The built-in visual-region study (`vrtrain study`): does tuning a sparse, uniformly spaced 25 % of the LLM's
// layers keep full tuning's visual accuracy, cheaper, better than other 25 % selections, and does pruning
// outside that region lose less than pruning by block influence or from the top? On synthetic-shapes with a
// 16-layer tiny LVLM, every arm over K seeds; the verdict reports mean ± spread and says when a claim fails.
//
// This header holds the study's configuration, its arms and the verdict arithmetic (pure, testable);
// vr/study/study_plan.h lays out the `vrtrain train` / `vrtrain eval` / `vrtrain prune` commands of every piece and
// vr/study/study_runner.h runs them as processes (`vrtrain study` only parses its flags and calls it).
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/core/config.h"

namespace vr::study {

struct StudyConfig : vr::Bindable {
  // Model (one tiny LVLM per seed, created with `make-tiny`'s generator and seed = the study seed).
  int64_t layers = 16, hidden = 64, heads = 4;
  // Stage 1, shared by every arm of a seed (the paper's arms all start from one pretrained LVLM): full tuning of
  // the random tiny model (all LLM layers, embeddings, lm_head, projector) on synthetic-shapes captions
  // ("two red circles.", plain template: short sequences, ~2.5x cheaper steps than the questions), so the LLM
  // knows the words and has learnt to look at the image before the arms differ.
  // base.data = questions trains stage 1 on the question data instead.
  int64_t base_steps = 500;
  double base_lr = 5e-3;
  std::string base_data = "captions";
  // Stage 2, one run per arm from the stage-1 model: the arm's LLM layers + projector on the question data
  // (vicuna_v1 template; colour, count, shape, left/right).
  int64_t steps = 60, batch_size = 8, train_samples = 512, image_size = 56;
  // One intra-op thread per process, `parallel` processes at once: on a shared 2-core machine two OpenMP threads
  // spin at every barrier (a 16-layer step measured 0.45 s with 1 thread and 7 s with 2 under a load of 5).
  int64_t threads = 1, parallel = 2;
  double lr = 3e-3, fraction = 0.25;
  // Evaluation: shapes accuracy on held-out images.
  int64_t eval_samples = 32;
  int64_t seeds = 2;
  std::vector<std::string> arms = {"full",   "uniform",         "consecutive-first", "consecutive-middle",
                                   "consecutive-last", "random", "block_influence", "attention",
                                   "angular", "layer_contribution", "triplet"};
  // Pruning of the uniform run's model: layers removed (each count x each method). "heal" prunes by heal_method,
  // then trains lm_head + the last heal_layers layers for heal_steps steps on the stage-2 data (vr/train/heal.h).
  std::vector<int64_t> prune_remove = {2, 4};
  std::vector<std::string> prune_methods = {"region", "angular", "bi", "last", "heal"};
  std::string heal_method = "last";
  int64_t heal_steps = 20, heal_layers = 3;
  // Text retention: loss of held-out captions (the stage-1 task; plain template, images of another seed) before
  // (base) and after each training arm. 0 = not measured. Needs stage 1.
  int64_t text_samples = 64;

  void bind(vr::ConfigBinder& b) override;
  void validate() const;
};

// `--set` overrides of a `vrtrain train` run for one arm (on top of the study's base config).
std::vector<std::string> arm_overrides(const std::string& arm);
std::vector<std::string> known_arms();

// One measured run: an arm (e.g. "uniform", "prune-region-2") at one seed.
struct StudyMeasurement {
  std::string arm;
  int64_t seed = 0;
  double accuracy = 0;       // shapes accuracy
  double chance = 0;
  double step_time_s = 0;    // training arms: median step time; NaN for pruning arms
  double peak_rss_bytes = 0; // training arms
  double trainable_share = 0;
  std::vector<int64_t> layers;  // trained (or, pruning arms, removed) layers
  double text_loss = std::numeric_limits<double>::quiet_NaN();  // held-out caption loss (NaN: not measured)
};

struct ArmStats {
  std::string arm;
  int64_t n = 0;
  double mean = 0, spread = 0;  // accuracy: mean and sample standard deviation over seeds (0 for one seed)
  double step_time_s = 0, peak_rss_bytes = 0, trainable_share = 0;  // means
  // Held-out caption loss: mean and sd over seeds; its rise over the seed's base model (paired by seed), mean and
  // sd. NaN where not measured.
  double text_loss = 0, text_loss_spread = 0, text_rise = 0, text_rise_spread = 0;
};

struct Claim {
  std::string claim;
  std::string verdict;   // "holds" | "does not hold" | "inconclusive" | "not measured"
  std::string evidence;  // the numbers behind the verdict
};

struct StudyVerdict {
  std::vector<ArmStats> arms;  // in the order first measured
  std::vector<Claim> claims;
  double chance = 0;
  std::string markdown() const;  // the arm table and the claims
  nlohmann::json to_json() const;
};

// Means and spreads per arm, then the three claims:
//   1. uniform reaches >= 95 % of full tuning's accuracy (with its step-time and memory ratios) — "inconclusive"
//      when uniform's mean is within the larger spread of 95 % of full's;
//   2. uniform beats each consecutive 25 % (first, middle, last) — "inconclusive" when the means differ by less
//      than the larger spread;
//   3. for each removed-layer count and each method that keeps the region (region, angular), pruning loses less
//      accuracy than bi and last;
//   4. healing: removing the layers by heal_method and healing loses less than region pruning without healing;
//   5. text retention: uniform's held-out caption loss rises less over the base model than full tuning's.
// When full tuning itself stays within 5 points of chance, every claim is "inconclusive" (nothing was learnt).
StudyVerdict study_verdict(const std::vector<StudyMeasurement>& m);

}  // namespace vr::study
