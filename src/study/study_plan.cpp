#include "vr/study/study_plan.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/core/file_io.h"
#include "vr/model/tiny_model.h"
#include "vr/report/run_record.h"
#include "vr/selection/selection.h"

namespace fs = std::filesystem;

namespace vr::study {

namespace {

bool has_file(const std::string& dir, const char* file) { return fs::exists(fs::path(dir) / file); }

// The training seed of every run of study seed K (stage 1, the arms, healing): 42 + K.
std::string train_seed_set(int64_t seed) { return "train.seed=" + std::to_string(42 + seed); }

}  // namespace

vr::train::RunConfig study_run_config(const StudyConfig& sc) {
  vr::train::RunConfig rc;
  rc.data.path = "synthetic-shapes";
  rc.data.template_name = "vicuna_v1";
  rc.data.model_max_length = 512;
  rc.data.num_workers = 1;
  rc.data.synthetic_num_samples = sc.train_samples;
  rc.data.synthetic_image_size = sc.image_size;
  rc.train.lr = rc.train.mm_projector_lr = sc.lr;
  rc.train.batch_size = sc.batch_size;
  rc.train.max_steps = sc.steps;
  rc.train.save_every = 0;
  rc.train.keep_last = 1;
  rc.train.log_every = sc.steps;
  rc.train.num_threads = sc.threads;
  rc.selection.fraction = sc.fraction;
  return rc;
}

StudyPlan::StudyPlan(StudyConfig sc, std::string out) : sc_(std::move(sc)), out_(std::move(out)) {}

std::string StudyPlan::base_yaml() const { return (fs::path(out_) / "base.yaml").string(); }

std::string StudyPlan::log(const std::string& name) const {
  return (fs::path(out_) / "logs" / (name + ".log")).string();
}

StudyCommand StudyPlan::eval_command(const std::string& model, const std::string& eval_dir,
                                     const std::string& name) const {
  return {{"eval", "--model", model, "--samples", std::to_string(sc_.eval_samples), "--threads",
           std::to_string(sc_.threads), "--output", eval_dir},
          log(name)};
}

void StudyPlan::add_evals(StudyJob& job, const std::string& model, bool text) const {
  if (!has_file(job.eval_dir, "shapes.summary.json")) job.commands.push_back(eval_command(model, job.eval_dir, job.name));
  if (text && measures_text() && !has_file(job.eval_dir, kTextRetentionSummary))
    job.commands.push_back({{"eval", "--task", "loss", "--model", model, "--data", "synthetic-shapes", "--template",
                             "plain", "--samples", std::to_string(sc_.text_samples), "--seed",
                             std::to_string(kTextRetentionSeed), "--image-size", std::to_string(sc_.image_size),
                             "--threads", std::to_string(sc_.threads), "--output", job.eval_dir},
                            log(job.name)});
}

std::vector<std::string> StudyPlan::make_seed_models() const {
  std::vector<std::string> start;
  for (int64_t seed = 0; seed < sc_.seeds; ++seed) {
    const std::string model = (fs::path(out_) / "models" / fmt::format("seed{}", seed)).string();
    if (!has_file(model, "config.json")) {
      vr::model::TinyModelOptions to;
      to.seed = seed;
      to.num_layers = sc_.layers;
      to.hidden_size = sc_.hidden;
      to.num_heads = sc_.heads;
      vr::model::make_tiny_model(model, to);
    }
    start.push_back(stage1() ? (fs::path(out_) / "base" / fmt::format("base-s{}", seed) / "final").string() : model);
  }
  return start;
}

// Stage 1: the random tiny model fully tuned (LLM layers, embeddings, lm_head, projector) into the model every arm
// of the seed starts from.
std::vector<std::string> StudyPlan::stage1_train_args(int64_t seed, const std::string& model,
                                                      const std::string& dir) const {
  std::vector<std::string> a = {"train", "--config", base_yaml(), "--set", "model.path=" + model,
                                "--set", "output_dir=" + dir, "--set", train_seed_set(seed),
                                "--set", "train.stage=full", "--set", "train.train_embeddings=true",
                                "--set", "train.max_steps=" + std::to_string(sc_.base_steps),
                                "--set", "train.log_every=" + std::to_string(sc_.base_steps),
                                "--set", fmt::format("train.lr={}", sc_.base_lr),
                                "--set", fmt::format("train.mm_projector_lr={}", sc_.base_lr),
                                // Other images than stage 2's, as many as the steps draw (no repeats).
                                "--set", "data.synthetic.seed=1",
                                "--set", fmt::format("data.synthetic.num_samples={}",
                                                     std::max(sc_.train_samples, sc_.base_steps * sc_.batch_size))};
  if (sc_.base_data == "captions") a.insert(a.end(), {"--set", "data.template=plain"});
  return a;
}

std::vector<StudyJob> StudyPlan::stage1_jobs() const {
  std::vector<StudyJob> jobs;
  if (!stage1()) return jobs;
  for (int64_t seed = 0; seed < sc_.seeds; ++seed) {
    const std::string model = (fs::path(out_) / "models" / fmt::format("seed{}", seed)).string();
    const std::string name = fmt::format("base-s{}", seed), dir = (fs::path(out_) / "base" / name).string();
    StudyJob job{name, "base", seed, dir, dir + "/eval", "", {}};
    if (!has_file(dir, "run_summary.json")) job.commands.push_back({stage1_train_args(seed, model, dir), log(name)});
    add_evals(job, dir + "/final", true);
    jobs.push_back(job);
  }
  return jobs;
}

namespace {

// The `--set` assignments of an arm's run at a seed (its stage and selection, and the seeds).
std::vector<std::string> arm_sets(const std::string& arm, int64_t seed) {
  std::vector<std::string> sets = arm_overrides(arm);
  sets.push_back(train_seed_set(seed));
  sets.push_back("selection.seed=" + std::to_string(seed));
  return sets;
}

bool scores_on_model(const std::string& arm) {
  return arm != "full" && arm.rfind("consecutive-", 0) != 0 && vr::selection::make_selector(arm)->needs_model();
}

}  // namespace

std::string StudyPlan::selection_file(const std::string& arm, int64_t seed) const {
  if (!scores_on_model(arm)) return "";
  return (fs::path(out_) / "selection" / fmt::format("s{}", seed) / ("selection_" + arm + ".json")).string();
}

std::vector<StudyJob> StudyPlan::selection_jobs(const std::vector<std::string>& start_models) const {
  std::vector<StudyJob> jobs;
  for (int64_t seed = 0; seed < sc_.seeds; ++seed)
    for (const auto& arm : sc_.arms) {
      const std::string file = selection_file(arm, seed);
      if (file.empty()) continue;
      const std::string name = fmt::format("select-{}-s{}", arm, seed), dir = fs::path(file).parent_path().string();
      StudyJob job{name, arm, seed, dir, "", "", {}};
      if (!fs::exists(file)) {
        std::vector<std::string> a = {"score", "--config", base_yaml(), "--output-dir", dir, "--set",
                                      "model.path=" + start_models[static_cast<size_t>(seed)]};
        for (const auto& o : arm_sets(arm, seed)) a.insert(a.end(), {"--set", o});
        job.commands.push_back({a, log(name)});
      }
      jobs.push_back(job);
    }
  return jobs;
}

std::vector<int64_t> StudyPlan::arm_layers(const std::string& arm, int64_t seed) const {
  std::vector<int64_t> layers;
  if (arm == "full") {
    for (int64_t l = 0; l < sc_.layers; ++l) layers.push_back(l);
    return layers;
  }
  const std::string file = selection_file(arm, seed);
  if (!file.empty()) return vr::selection::SelectionResult::from_json(vr::read_json_file(file), file).layers;
  vr::train::RunConfig rc = study_run_config(sc_);
  vr::train::apply_run_overrides(rc, arm_sets(arm, seed));
  vr::selection::SelectionContext ctx;
  ctx.num_layers = sc_.layers;
  return vr::selection::select_layers(rc.selection, ctx).layers;
}

std::vector<StudyJob> StudyPlan::arm_jobs(const std::vector<std::string>& start_models) const {
  std::vector<StudyJob> jobs;
  for (int64_t seed = 0; seed < sc_.seeds; ++seed) {
    std::map<std::vector<int64_t>, std::string> trained;  // layers -> the first arm of this seed that trains them
    for (const auto& arm : sc_.arms) {
      const std::string name = fmt::format("{}-s{}", arm, seed), dir = (fs::path(out_) / "runs" / name).string();
      StudyJob job{name, arm, seed, dir, dir + "/eval", "", {}};
      std::vector<int64_t> key = arm_layers(arm, seed);
      if (arm == "full") key.push_back(-1);  // stage full also trains what sft leaves frozen: never the same run
      const auto [first, fresh] = trained.emplace(key, name);
      if (!fresh) {
        job.same_as = first->second, job.dir = job.eval_dir = "";
        jobs.push_back(job);
        continue;
      }
      if (!has_file(dir, "run_summary.json")) {
        std::vector<std::string> a = {"train", "--config", base_yaml(), "--set",
                                      "model.path=" + start_models[static_cast<size_t>(seed)], "--set",
                                      "output_dir=" + dir};
        for (const auto& o : arm_sets(arm, seed)) a.insert(a.end(), {"--set", o});
        if (const std::string file = selection_file(arm, seed); !file.empty())
          a.insert(a.end(), {"--set", "selection.scores_file=" + file});  // scored once, by selection_jobs
        job.commands.push_back({a, log(name)});
      }
      add_evals(job, dir + "/final", true);
      jobs.push_back(job);
    }
  }
  return jobs;
}

std::vector<StudyJob> StudyPlan::prune_jobs() const {
  std::vector<StudyJob> jobs;
  for (int64_t seed = 0; seed < sc_.seeds; ++seed) {
    const std::string uniform = (fs::path(out_) / "runs" / fmt::format("uniform-s{}", seed)).string();
    const vr::report::RunRecord ur = vr::report::read_run(uniform);
    for (int64_t n : sc_.prune_remove)
      for (const auto& method : sc_.prune_methods) {
        const std::string arm = fmt::format("prune-{}-{}", method, n), name = fmt::format("{}-s{}", arm, seed);
        const std::string dir = (fs::path(out_) / "pruned" / name).string();
        StudyJob job{name, arm, seed, dir, dir + "/eval", "", {}};
        if (!has_file(dir + "/model", "config.json")) {
          // Block influence (region, bi) and angular distances are computed by `vrtrain prune` on calibration data
          // of the study's config; heal trains on the stage-2 data (the same config).
          std::vector<std::string> a = {"prune",  "--model",      uniform + "/final", "--output", dir + "/model",
                                        "--remove", std::to_string(n), "--method", method,  "--config", base_yaml(),
                                        "--set", train_seed_set(seed)};
          const std::string chooser = method == "heal" ? sc_.heal_method : method;
          if (chooser == "region" || chooser == "angular")  // both keep the uniform run's region
            a.insert(a.end(), {"--region", fmt::format("{}", fmt::join(ur.layers, ","))});
          if (method == "heal")
            a.insert(a.end(), {"--heal-method", sc_.heal_method, "--heal-steps", std::to_string(sc_.heal_steps),
                               "--heal-layers", std::to_string(sc_.heal_layers), "--heal-dir", dir + "/heal"});
          job.commands.push_back({a, log(name)});
        }
        add_evals(job, dir + "/model", false);
        jobs.push_back(job);
      }
  }
  return jobs;
}

}  // namespace vr::study
