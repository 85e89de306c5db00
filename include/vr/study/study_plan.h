// The study's plan (vr/study/study.h): the `vrtrain` commands of every piece, grouped into jobs, and the folders
// they write. Pure except for make_seed_models, which creates the random tiny models. A finished piece (its
// run_summary.json, config.json or shapes.summary.json present) gets no command: rerunning continues a study.
//
// <out>/models/seed<K>  random tiny models             <out>/base/base-s<K>       stage-1 runs (+ eval/)
// <out>/runs/<arm>-s<K>  stage-2 runs (+ eval/)         <out>/pruned/<arm>-s<K>    model/ and eval/ of a pruning arm
// <out>/logs/<name>.log  every command's output         <out>/base.yaml            the training config they share
// <out>/selection/s<K>   `vrtrain score` of the arms that score layers on the model (selection_<arm>.json)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/study/study.h"
#include "vr/train/run_config.h"

namespace vr::study {

// One `vrtrain` command of the study and the log its output is appended to.
struct StudyCommand {
  std::vector<std::string> args;
  std::string log;
};

// Commands that must run in order (e.g. train, then eval of that run), for one arm at one seed.
struct StudyJob {
  std::string name;     // "<arm>-s<seed>"
  std::string arm;
  int64_t seed = 0;
  std::string dir;      // the run (stage 1, 2) or the pruned model's folder (pruning)
  std::string eval_dir; // where its shapes.summary.json (and, measured, the text-retention summary) land
  std::string same_as;  // stage 2: the earlier job of the seed that trains the same layers; this one reuses its run
                        // (no commands, no folder of its own)
  std::vector<StudyCommand> commands;
};

// The text-retention loss: `vrtrain eval --task loss --data synthetic-shapes --template plain` on captions of images
// drawn with this seed (stage 1 draws with 1, stage 2 with 0, the shapes evaluation with 1000003).
constexpr uint64_t kTextRetentionSeed = 2000003;
constexpr const char* kTextRetentionSummary = "loss-synthetic-shapes.summary.json";

// The training config every run shares (stage, arm and seed differ by --set).
vr::train::RunConfig study_run_config(const StudyConfig& sc);

// The folders and the arguments of a study in `out`.
class StudyPlan {
 public:
  StudyPlan(StudyConfig sc, std::string out);
  const StudyConfig& config() const { return sc_; }
  const std::string& out() const { return out_; }
  std::string base_yaml() const;           // <out>/base.yaml
  std::string log(const std::string& name) const;
  bool stage1() const { return sc_.base_steps > 0; }

  // Creates each seed's random tiny model when missing; the model each seed's arms start from (the stage-1
  // run's final/ when there is a stage 1).
  std::vector<std::string> make_seed_models() const;
  std::vector<StudyJob> stage1_jobs() const;                                        // one per seed
  // Layer selection ahead of training for the arms that score layers on the model (block_influence, attention,
  // angular, layer_contribution, triplet): `vrtrain score` per arm and seed, on the seed's start model with the
  // arm's seeds, exactly as its training run would select. With every arm's layers known before training, an arm
  // that picks the same layers as an earlier arm of its seed reuses that arm's run (training is seeded where it
  // starts: the same layers give the same run, bit for bit).
  std::vector<StudyJob> selection_jobs(const std::vector<std::string>& start_models) const;
  // The layers `arm` trains at `seed`: all for full, the heuristic's choice, or the score file of selection_jobs.
  std::vector<int64_t> arm_layers(const std::string& arm, int64_t seed) const;
  // Seed-major, arms in order; needs selection_jobs' files. A repeated layer set gets `same_as` and no commands.
  std::vector<StudyJob> arm_jobs(const std::vector<std::string>& start_models) const;
  // Pruning of each seed's uniform run (reads its run_summary.json for the region), seed-major.
  std::vector<StudyJob> prune_jobs() const;
  size_t prunes_per_seed() const { return sc_.prune_remove.size() * sc_.prune_methods.size(); }
  // Text retention is measured (text.samples > 0) only after a stage 1: it is the stage-1 task.
  bool measures_text() const { return stage1() && sc_.text_samples > 0; }

 private:
  StudyCommand eval_command(const std::string& model, const std::string& eval_dir, const std::string& name) const;
  // Appends the evaluations of `model` that `job.eval_dir` lacks: shapes accuracy, and with `text` the
  // text-retention loss (when the study measures it).
  void add_evals(StudyJob& job, const std::string& model, bool text) const;
  std::vector<std::string> stage1_train_args(int64_t seed, const std::string& model, const std::string& dir) const;
  std::string selection_file(const std::string& arm, int64_t seed) const;  // "" for arms that do not score

  StudyConfig sc_;
  std::string out_;
};

}  // namespace vr::study
