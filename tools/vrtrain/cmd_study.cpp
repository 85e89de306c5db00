// `vrtrain study`: the built-in visual-region study (vr/eval/study.h). Every arm runs as its own `vrtrain train`
// and `vrtrain eval` process (so step time and peak memory are measured per run, as a user would see them), the
// pruning arms as `vrtrain prune` + `vrtrain eval`; then `vrtrain compare` on all training runs and the verdict.
// Finished pieces are kept: rerunning the same command continues where an interrupted study stopped.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/progress.h"
#include "vr/eval/compare.h"
#include "vr/eval/run_record.h"
#include "vr/eval/study.h"
#include "vr/train/run_config.h"
#include "vr/train/tiny_model.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace fs = std::filesystem;

namespace {

const char* kFooter = R"(Arms (each over --seeds seeds; a seed sets the tiny model's weights, the data order and random
selections): full (all LLM layers), uniform (25 % evenly spaced: the paper's visual region), consecutive-first,
consecutive-middle, consecutive-last (25 % in one block), random (25 %), block_influence and attention (25 % by
score); then the uniform run's model pruned by `vrtrain prune` (region: outside the tuned layers; bi: lowest block
influence; last: the top layers), --set prune.remove=[2,4] layers. Accuracy: shapes questions on held-out images.

Writes into --output (default runs/study): models/, runs/<arm>-s<seed>/ (training runs with eval/), pruned/,
logs/, compare/ (`vrtrain compare` of every training run), verdict.md, verdict.json. Finished pieces are
reused: rerun the same command to continue an interrupted study; delete the directory to start over.

Study keys (--config FILE in YAML, or --set key=value):
)";

// The running executable. /proc/self/exe itself (not the path it points to) still execs when the build has
// replaced the file on disk since this process started.
std::string self_exe() {
  VR_CHECK(fs::exists("/proc/self/exe"), "study: cannot find the vrtrain executable (/proc/self/exe)");
  return "/proc/self/exe";
}

// Runs `vrtrain <args>` with stdout and stderr appended to `log`; returns the exit code (-1: killed by a signal).
int run_vrtrain(const std::vector<std::string>& args, const std::string& log) {
  const std::string exe = self_exe();
  fs::create_directories(fs::path(log).parent_path());
  const pid_t pid = fork();
  VR_CHECK(pid >= 0, "study: fork() failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const char* name = "vrtrain";
    std::vector<char*> argv{const_cast<char*>(name)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string s;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) s += "  " + all[i] + "\n";
  return s;
}

void must_run(const std::vector<std::string>& args, const std::string& log) {
  const int rc = run_vrtrain(args, log);
  VR_CHECK(rc == 0, "study: `vrtrain {}` failed (exit {}); log {}:\n{}", fmt::join(args, " "), rc, log,
           tail_of(log, 12));
}

// The shapes summary of an evaluation folder.
vr::eval::EvalSummary read_shapes(const std::string& eval_dir) {
  return vr::eval::EvalSummary::from_json(vr::read_json_file((fs::path(eval_dir) / "shapes.summary.json").string()));
}

int run_study(const std::vector<std::string>& args) {
  vr::eval::StudyConfig sc;
  vr::cli::ConfigFlags flags;
  std::string output = "runs/study";
  int64_t seeds = 0;
  CLI::App app = vr::cli::make_app(
      "study", "The visual-region study on synthetic shapes: selection strategies and pruning, verdict over seeds",
      kFooter + vr::describe_fields(sc));
  vr::cli::add_config_flags(app, flags);
  app.add_option("--seeds", seeds, "seeds per arm (same as --set seeds=K; default 2)")->type_name("K");
  app.add_option("--output", output, "study directory (default runs/study)")->type_name("DIR");
  if (auto code = vr::cli::parse(app, args)) return *code;
  for (const auto& f : flags.files) vr::load_yaml_config(sc, f);
  vr::apply_overrides(sc, flags.sets);
  if (seeds > 0) sc.seeds = seeds;
  sc.validate();
  const fs::path out(output);
  fs::create_directories(out);
  vr::atomic_write_file((out / "study.yaml").string(), vr::dump_yaml(sc));
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // The training config every arm shares (arm and seed differ by --set).
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
  const std::string base_yaml = (out / "base.yaml").string();
  vr::atomic_write_file(base_yaml, vr::dump_yaml(rc));

  const bool can_prune = !sc.prune_remove.empty() && !sc.prune_methods.empty() &&
                         std::find(sc.arms.begin(), sc.arms.end(), "uniform") != sc.arms.end() &&
                         run_vrtrain({"prune", "--help"}, (out / "logs" / "prune_help.log").string()) == 0;
  const int64_t per_seed = static_cast<int64_t>(sc.arms.size()) +
                           (can_prune ? static_cast<int64_t>(sc.prune_remove.size() * sc.prune_methods.size()) : 0);
  const int64_t total = per_seed * sc.seeds;
  int64_t done = 0;
  std::vector<vr::eval::StudyMeasurement> ms;
  std::vector<std::string> run_dirs;
  const std::string threads = std::to_string(sc.threads), samples = std::to_string(sc.eval_samples);
  for (int64_t seed = 0; seed < sc.seeds; ++seed) {
    const std::string model = (out / "models" / fmt::format("seed{}", seed)).string();
    if (!fs::exists(fs::path(model) / "config.json")) {
      vr::train::TinyModelOptions to;
      to.seed = seed;
      to.num_layers = sc.layers;
      to.hidden_size = sc.hidden;
      to.num_heads = sc.heads;
      vr::train::make_tiny_model(model, to);
    }
    for (const auto& arm : sc.arms) {
      const std::string name = fmt::format("{}-s{}", arm, seed);
      const std::string dir = (out / "runs" / name).string(), log = (out / "logs" / (name + ".log")).string();
      if (!fs::exists(fs::path(dir) / "run_summary.json")) {
        std::vector<std::string> a = {"train", "--config", base_yaml, "--set", "model.path=" + model,
                                      "--set", "output_dir=" + dir, "--set", "train.seed=" + std::to_string(42 + seed),
                                      "--set", "selection.seed=" + std::to_string(seed)};
        for (const auto& o : vr::eval::arm_overrides(arm)) a.insert(a.end(), {"--set", o});
        must_run(a, log);
      }
      if (!fs::exists(fs::path(dir) / "eval" / "shapes.summary.json"))
        must_run({"eval", "--model", dir + "/final", "--samples", samples, "--threads", threads, "--output",
                  dir + "/eval"},
                 log);
      const vr::eval::RunRecord r = vr::eval::read_run(dir);
      const vr::eval::EvalSummary e = read_shapes(dir + "/eval");
      ms.push_back({arm, seed, e.metrics.at("accuracy").get<double>(), e.metrics.at("chance").get<double>(),
                    r.step_time_s, static_cast<double>(r.peak_rss_bytes), r.trainable_share(), r.layers});
      run_dirs.push_back(dir);
      std::printf("[%lld/%lld %s] %-22s accuracy %5.1f%%  step %4.0f ms  layers %s\n", static_cast<long long>(++done),
                  static_cast<long long>(total), vr::format_duration(elapsed()).c_str(), name.c_str(),
                  100 * ms.back().accuracy, 1000 * r.step_time_s, fmt::format("{}", fmt::join(r.layers, ",")).c_str());
      std::fflush(stdout);
    }
    if (!can_prune) continue;
    const std::string uniform = (out / "runs" / fmt::format("uniform-s{}", seed)).string();
    const vr::eval::RunRecord ur = vr::eval::read_run(uniform);
    for (int64_t n : sc.prune_remove)
      for (const auto& method : sc.prune_methods) {
        const std::string name = fmt::format("prune-{}-{}-s{}", method, n, seed);
        const std::string dir = (out / "pruned" / name).string(), log = (out / "logs" / (name + ".log")).string();
        if (!fs::exists(fs::path(dir) / "model" / "config.json")) {
          // Block influence (region, bi) is computed by `vrtrain prune` on calibration data of the study's config.
          std::vector<std::string> a = {"prune", "--model", uniform + "/final", "--output", dir + "/model",
                                        "--remove", std::to_string(n), "--method", method, "--config", base_yaml};
          if (method == "region") a.insert(a.end(), {"--region", fmt::format("{}", fmt::join(ur.layers, ","))});
          must_run(a, log);
        }
        if (!fs::exists(fs::path(dir) / "eval" / "shapes.summary.json"))
          must_run({"eval", "--model", dir + "/model", "--samples", samples, "--threads", threads, "--output",
                    dir + "/eval"},
                   log);
        const vr::eval::EvalSummary e = read_shapes(dir + "/eval");
        ms.push_back({fmt::format("prune-{}-{}", method, n), seed, e.metrics.at("accuracy").get<double>(),
                      e.metrics.at("chance").get<double>(), std::numeric_limits<double>::quiet_NaN(),
                      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(), {}});
        std::printf("[%lld/%lld %s] %-22s accuracy %5.1f%%\n", static_cast<long long>(++done),
                    static_cast<long long>(total), vr::format_duration(elapsed()).c_str(), name.c_str(),
                    100 * ms.back().accuracy);
        std::fflush(stdout);
      }
  }

  vr::eval::CompareOptions co;
  co.runs = run_dirs;
  co.output = (out / "compare").string();
  vr::eval::compare_runs(co);
  vr::eval::StudyVerdict v = vr::eval::study_verdict(ms);
  std::string md = fmt::format("# Visual-region study\n\n{} seed(s), {}-layer tiny LVLM, {} steps per arm, shapes "
                               "accuracy on {} held-out images; {:.0f} s in total.\n\n{}",
                               sc.seeds, sc.layers, sc.steps, sc.eval_samples, elapsed(), v.markdown());
  if (!can_prune)
    md += "\nPruning arms not run: `vrtrain prune` is not available in this build, or prune.remove / prune.methods "
          "is empty, or the uniform arm is not part of the study.\n";
  vr::atomic_write_file((out / "verdict.md").string(), md);
  nlohmann::json j = v.to_json();
  j["config_yaml"] = vr::dump_yaml(sc);
  j["seconds"] = elapsed();
  vr::atomic_write_file((out / "verdict.json").string(), j.dump(2) + "\n");
  std::printf("\n%s\nwrote %s/verdict.md, verdict.json, compare/\n", md.c_str(), out.c_str());
  return 0;
}

vr::cli::Registration registration_study{"study", "The visual-region study: strategies and pruning on synthetic shapes, with a verdict",
                          &run_study};

}  // namespace
