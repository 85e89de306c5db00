#include "vr/study/study_runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/child_processes.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/progress.h"
#include "vr/eval/eval_summary.h"
#include "vr/report/compare.h"
#include "vr/report/run_record.h"

namespace fs = std::filesystem;

namespace vr::study {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string s;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) s += "  " + all[i] + "\n";
  return s;
}

vr::ChildSpec vrtrain_spec(const std::string& exe, const StudyCommand& c) {
  vr::ChildSpec spec{exe, {"vrtrain"}, {}, c.log, ""};
  spec.argv.insert(spec.argv.end(), c.args.begin(), c.args.end());
  return spec;
}

// Runs `vrtrain <args>` to the end; returns its exit code.
int run_vrtrain(const std::string& exe, const StudyCommand& c) {
  vr::ChildProcesses one;
  one.start(vrtrain_spec(exe, c));
  int code = 0;
  while (const auto e = one.wait_any()) code = e->code;
  return code;
}

// Accuracy and chance of an evaluation folder's shapes summary.
StudyMeasurement shapes_measurement(const StudyJob& job) {
  const auto e = vr::eval::EvalSummary::from_json(
      vr::read_json_file((fs::path(job.eval_dir) / "shapes.summary.json").string()));
  return {job.arm, job.seed, e.metrics.at("accuracy").get<double>(), e.metrics.at("chance").get<double>(),
          kNaN,    kNaN,     kNaN,
          {}};
}

// The held-out caption loss of a job's text-retention evaluation; NaN where it was not measured.
double text_loss_of(const StudyJob& job) {
  const fs::path f = fs::path(job.eval_dir) / kTextRetentionSummary;
  if (!fs::exists(f)) return kNaN;
  return vr::eval::EvalSummary::from_json(vr::read_json_file(f.string())).metrics.at("loss").get<double>();
}

std::string text_note(double loss) { return std::isfinite(loss) ? fmt::format("  caption loss {:.3f}", loss) : ""; }

// CPU time of every finished child process (user + system): on a loaded machine the wall time says more about the
// neighbours than about the study; CPU-seconds / parallel estimates the wall time on idle cores.
double children_cpu_seconds() {
  struct rusage children {};
  getrusage(RUSAGE_CHILDREN, &children);
  return static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec);
}

class StudyRunner {
 public:
  StudyRunner(const StudyConfig& sc, const StudyRunOptions& o) : plan_(sc, o.output), options_(o) {}

  std::string run() {
    StudyConfig sc = plan_.config();  // dump_yaml binds (non-const)
    fs::create_directories(plan_.out());
    vr::atomic_write_file((fs::path(plan_.out()) / "study.yaml").string(), vr::dump_yaml(sc));
    vr::train::RunConfig base = study_run_config(sc);
    vr::atomic_write_file(plan_.base_yaml(), vr::dump_yaml(base));
    can_prune_ = !sc.prune_remove.empty() && !sc.prune_methods.empty() &&
                 std::find(sc.arms.begin(), sc.arms.end(), "uniform") != sc.arms.end() &&
                 run_vrtrain(options_.exe, {{"prune", "--help"}, plan_.log("prune_help")}) == 0;
    total_ = ((plan_.stage1() ? 1 : 0) + static_cast<int64_t>(sc.arms.size()) +
              (can_prune_ ? static_cast<int64_t>(plan_.prunes_per_seed()) : 0)) *
             sc.seeds;
    start_models_ = plan_.make_seed_models();
    run_stage1();
    run_selections();
    run_arms();
    if (can_prune_) run_prunes();
    return finish();
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

  void progress(const std::string& name, double accuracy, const std::string& extra) {
    if (!options_.say) return;
    options_.say(fmt::format("[{}/{} {}] {:<22} accuracy {:5.1f}%{}", ++done_, total_, vr::format_duration(elapsed()),
                             name, 100 * accuracy, extra));
  }

  // Stage 1, one per seed, evaluated on the questions as arm "base".
  void run_stage1() {
    const auto jobs = plan_.stage1_jobs();
    base_ms_.resize(jobs.size());
    run_study_jobs(jobs, plan_.config().parallel, options_.exe, [&](size_t j) {
      base_ms_[j] = shapes_measurement(jobs[j]);
      base_ms_[j].text_loss = text_loss_of(jobs[j]);
      progress(jobs[j].name, base_ms_[j].accuracy,
               fmt::format("  (stage 1: {} steps on {}, before any arm){}", plan_.config().base_steps,
                           plan_.config().base_data, text_note(base_ms_[j].text_loss)));
    });
  }

  // The layers of the arms that score them on the model, before any of them trains (StudyPlan::selection_jobs).
  void run_selections() {
    const auto jobs = plan_.selection_jobs(start_models_);
    if (jobs.empty()) return;
    run_study_jobs(jobs, plan_.config().parallel, options_.exe, [](size_t) {});
    if (options_.say)
      options_.say(fmt::format("[{}] layers selected for {} scoring arm(s) x {} seed(s) (selection/)",
                               vr::format_duration(elapsed()), jobs.size() / static_cast<size_t>(plan_.config().seeds),
                               plan_.config().seeds));
  }

  // Stage 2: every arm of every seed from that seed's stage-1 model; an arm with the same layers as an earlier arm
  // of its seed takes that arm's measurement once all have run.
  void run_arms() {
    const auto jobs = plan_.arm_jobs(start_models_);
    arm_ms_.resize(jobs.size());
    for (const auto& j : jobs)
      if (j.same_as.empty()) run_dirs_.push_back(j.dir);
    run_study_jobs(jobs, plan_.config().parallel, options_.exe, [&](size_t j) {
      if (!jobs[j].same_as.empty()) return;
      const vr::report::RunRecord r = vr::report::read_run(jobs[j].dir);
      arm_ms_[j] = shapes_measurement(jobs[j]);
      arm_ms_[j].step_time_s = r.step_time_s;
      arm_ms_[j].peak_rss_bytes = static_cast<double>(r.peak_rss_bytes);
      arm_ms_[j].trainable_share = r.trainable_share();
      arm_ms_[j].layers = r.layers;
      arm_ms_[j].text_loss = text_loss_of(jobs[j]);
      progress(jobs[j].name, arm_ms_[j].accuracy,
               fmt::format("  step {:4.0f} ms  layers {}{}", 1000 * r.step_time_s, fmt::join(r.layers, ","),
                           text_note(arm_ms_[j].text_loss)));
    });
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (jobs[j].same_as.empty()) continue;
      size_t k = 0;
      while (jobs[k].name != jobs[j].same_as) ++k;  // an earlier job of the list (StudyPlan::arm_jobs)
      arm_ms_[j] = arm_ms_[k];
      arm_ms_[j].arm = jobs[j].arm;
      reused_.push_back(fmt::format("`{}` = `{}`", jobs[j].name, jobs[k].name));
      progress(jobs[j].name, arm_ms_[j].accuracy,
               fmt::format("  layers {}: the run of {} (same layers)", fmt::join(arm_ms_[j].layers, ","), jobs[k].name));
    }
  }

  // Pruning of each seed's uniform model.
  void run_prunes() {
    const auto jobs = plan_.prune_jobs();
    prune_ms_.resize(jobs.size());
    run_study_jobs(jobs, plan_.config().parallel, options_.exe, [&](size_t j) {
      prune_ms_[j] = shapes_measurement(jobs[j]);
      progress(jobs[j].name, prune_ms_[j].accuracy, "");
    });
  }

  // Measurements in a fixed order (arms as configured, seeds ascending), whatever order the processes finished in.
  std::vector<StudyMeasurement> measurements() const {
    const StudyConfig& sc = plan_.config();
    std::vector<StudyMeasurement> ms;
    for (size_t a = 0; a < sc.arms.size(); ++a)
      for (int64_t seed = 0; seed < sc.seeds; ++seed) ms.push_back(arm_ms_[static_cast<size_t>(seed) * sc.arms.size() + a]);
    ms.insert(ms.end(), base_ms_.begin(), base_ms_.end());
    const size_t per_seed = can_prune_ ? plan_.prunes_per_seed() : 0;
    for (size_t p = 0; p < per_seed; ++p)
      for (int64_t seed = 0; seed < sc.seeds; ++seed) ms.push_back(prune_ms_[static_cast<size_t>(seed) * per_seed + p]);
    return ms;
  }

  std::string verdict_markdown(const StudyVerdict& v, double child_cpu_s) const {
    const StudyConfig& sc = plan_.config();
    std::string md = fmt::format(
        "# Visual-region study\n\n{} seed(s), {}-layer tiny LVLM; stage 1 (shared by the arms of a seed): {}; stage "
        "2: {} steps per arm from it; shapes accuracy on {} held-out images; {:.0f} s in total ({} processes at once, "
        "{} thread(s) each; the processes used {:.0f} CPU-seconds).\n\n{}",
        sc.seeds, sc.layers,
        plan_.stage1() ? fmt::format("{} steps of full tuning on {}", sc.base_steps, sc.base_data) : std::string("none"),
        sc.steps, sc.eval_samples, elapsed(), sc.parallel, sc.threads, child_cpu_s, v.markdown());
    if (plan_.stage1())
      md += "\n`base`: the stage-1 model every arm of its seed started from, evaluated before any arm trained.\n";
    if (!reused_.empty())
      md += fmt::format("\nSame layers, same run: these arms selected the layers of an earlier arm of their seed and "
                        "reuse its run (training is seeded where it starts, so it would repeat it bit for bit): {}.\n",
                        fmt::join(reused_, ", "));
    if (plan_.measures_text())
      md += fmt::format("\nCaption loss (text retention): loss of {} held-out captions (plain template, images of "
                        "seed {}) — the stage-1 task, which no arm trains on; Δ vs base is its rise over the seed's "
                        "stage-1 model (forgetting).\n",
                        sc.text_samples, kTextRetentionSeed);
    const bool heal = std::find(sc.prune_methods.begin(), sc.prune_methods.end(), "heal") != sc.prune_methods.end();
    if (can_prune_ && heal)
      md += fmt::format("\n`prune-heal-N`: N layers removed by `{}`, then lm_head and the last {} layers trained for {} "
                        "steps on the stage-2 data (`vrtrain prune --method heal`).\n",
                        sc.heal_method, sc.heal_layers, sc.heal_steps);
    if (!can_prune_)
      md += "\nPruning arms not run: `vrtrain prune` is not available in this build, or prune.remove / prune.methods "
            "is empty, or the uniform arm is not part of the study.\n";
    return md;
  }

  // The compare report of every training run, verdict.md and verdict.json.
  std::string finish() const {
    vr::report::CompareOptions co;
    co.runs = run_dirs_;
    co.output = (fs::path(plan_.out()) / "compare").string();
    vr::report::compare_runs(co);
    const StudyVerdict v = study_verdict(measurements());
    const double child_cpu_s = children_cpu_seconds();
    const std::string md = verdict_markdown(v, child_cpu_s);
    vr::atomic_write_file((fs::path(plan_.out()) / "verdict.md").string(), md);
    nlohmann::json j = v.to_json();
    StudyConfig sc = plan_.config();
    j["config_yaml"] = vr::dump_yaml(sc);
    j["seconds"] = elapsed();
    j["child_cpu_seconds"] = child_cpu_s;
    j["start_models"] = start_models_;
    vr::atomic_write_file((fs::path(plan_.out()) / "verdict.json").string(), j.dump(2) + "\n");
    return md;
  }

  StudyPlan plan_;
  StudyRunOptions options_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  bool can_prune_ = false;
  int64_t total_ = 0, done_ = 0;
  std::vector<std::string> start_models_, run_dirs_;
  std::vector<std::string> reused_;  // "`angular-s0` = `consecutive-first-s0`": arms that reused a run
  std::vector<StudyMeasurement> base_ms_, arm_ms_, prune_ms_;
};

}  // namespace

void run_study_jobs(const std::vector<StudyJob>& jobs, int64_t parallel, const std::string& exe,
                    const std::function<void(size_t)>& done) {
  struct Running {
    size_t job, command;
  };
  vr::ChildProcesses children;
  std::map<size_t, Running> running;  // by child index
  std::string failure;
  size_t next = 0;
  auto finish = [&](size_t j) {
    try {
      done(j);
    } catch (const std::exception& e) {
      if (failure.empty()) failure = e.what();
    }
  };
  auto start = [&](size_t j, size_t c) { running[children.start(vrtrain_spec(exe, jobs[j].commands[c]))] = {j, c}; };
  for (;;) {
    while (failure.empty() && static_cast<int64_t>(running.size()) < parallel && next < jobs.size()) {
      const size_t j = next++;
      if (jobs[j].commands.empty()) finish(j);
      else start(j, 0);
    }
    if (running.empty()) break;
    const auto e = children.wait_any();
    VR_CHECK(e.has_value(), "study: {} vrtrain processes were lost", running.size());
    const Running r = running.at(e->child);
    running.erase(e->child);
    const StudyCommand& c = jobs[r.job].commands[r.command];
    if (e->code != 0) {
      if (failure.empty())
        failure = fmt::format("study: `vrtrain {}` failed (exit {}); log {}:\n{}", fmt::join(c.args, " "), e->code,
                              c.log, tail_of(c.log, 12));
    } else if (r.command + 1 < jobs[r.job].commands.size()) {
      if (failure.empty()) start(r.job, r.command + 1);
    } else {
      finish(r.job);
    }
  }
  VR_CHECK(failure.empty(), "{}", failure);
}

std::string run_study(const StudyConfig& sc, const StudyRunOptions& options) {
  sc.validate();
  return StudyRunner(sc, options).run();
}

}  // namespace vr::study
