// `vrtrain study`: the built-in visual-region study (vr/eval/study.h). Every arm runs as its own `vrtrain train`
// and `vrtrain eval` process (so step time and peak memory are measured per run, as a user would see them), the
// pruning arms as `vrtrain prune` + `vrtrain eval`; then `vrtrain compare` on all training runs and the verdict.
// Finished pieces are kept: rerunning the same command continues where an interrupted study stopped.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
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
#include "vr/report/compare.h"
#include "vr/report/run_record.h"
#include "vr/study/study.h"
#include "vr/train/run_config.h"
#include "vr/train/tiny_model.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace fs = std::filesystem;

namespace cmd_study {  // not anonymous: unity builds put several commands in one translation unit

const char* kFooter = R"(Per seed (a seed sets the tiny model's weights, the data order and random selections): stage 1,
shared by every arm of the seed, tunes the whole random tiny model (LLM layers, embeddings, lm_head, projector) on
synthetic-shapes captions (base.*), like the pretrained LVLM the paper's arms all start from; then stage 2, one
`vrtrain train` per arm from that checkpoint on the question data (the arm's LLM layers + projector): full (all
layers), uniform (25 % evenly spaced: the paper's visual region), consecutive-first, consecutive-middle,
consecutive-last (25 % in one block), random (25 %), block_influence and attention (25 % by score); then the uniform
run's model pruned by `vrtrain prune` (region: outside the tuned layers; bi: lowest block influence; last: the top
layers), --set prune.remove=[2,4] layers. Accuracy: shapes questions on held-out images (arm `base`: the stage-1
model before any arm). `parallel` processes run at once, `train.threads` threads each.

Writes into --output (default runs/study): models/ (random tiny models), base/ (stage-1 runs), runs/<arm>-s<seed>/
(training runs with eval/), pruned/, logs/, compare/ (`vrtrain compare` of every arm's run), verdict.md,
verdict.json. Finished pieces are reused: rerun the same command to continue an interrupted study; delete the
directory to start over.

Study keys (--config FILE in YAML, or --set key=value):
)";

// One `vrtrain` command of the study and the log its output is appended to.
struct StudyCommand {
  std::vector<std::string> args;
  std::string log;
};
// Commands that must run in order (e.g. train, then eval of that run).
struct StudyJob {
  std::string name;
  std::vector<StudyCommand> commands;
};

// Starts `vrtrain <args>` with stdout and stderr appended to `log`; returns its pid.
pid_t spawn_vrtrain(const StudyCommand& c) {
  const std::string exe = vr::cli::self_executable();
  fs::create_directories(fs::path(c.log).parent_path());
  const pid_t pid = fork();
  VR_CHECK(pid >= 0, "study: fork() failed");
  if (pid == 0) {
    const int fd = ::open(c.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const char* name = "vrtrain";
    std::vector<char*> argv{const_cast<char*>(name)};
    for (const auto& a : c.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int study_exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Runs `vrtrain <args>` to the end; returns the exit code (-1: killed by a signal).
int run_vrtrain(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = spawn_vrtrain({args, log});
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return study_exit_code(status);
}

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string s;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) s += "  " + all[i] + "\n";
  return s;
}

// Runs every job (its commands in order), at most `parallel` processes at once, jobs started in list order;
// `done(i)` runs here as job i finishes. After a failed command (or a throwing `done`) no new command starts, the
// running ones finish, then the first failure is thrown with the tail of its log.
void run_study_jobs(const std::vector<StudyJob>& jobs, int64_t parallel, const std::function<void(size_t)>& done) {
  struct Running {
    size_t job, command;
  };
  std::map<pid_t, Running> running;
  std::string failure;
  size_t next = 0;
  auto finish = [&](size_t j) {
    try {
      done(j);
    } catch (const std::exception& e) {
      if (failure.empty()) failure = e.what();
    }
  };
  for (;;) {
    while (failure.empty() && static_cast<int64_t>(running.size()) < parallel && next < jobs.size()) {
      const size_t j = next++;
      if (jobs[j].commands.empty()) finish(j);
      else running[spawn_vrtrain(jobs[j].commands[0])] = {j, 0};
    }
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      VR_FAIL("study: waitpid() failed while {} vrtrain processes were running", running.size());
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = it->second;
    running.erase(it);
    const StudyCommand& c = jobs[r.job].commands[r.command];
    if (const int rc = study_exit_code(status); rc != 0) {
      if (failure.empty())
        failure = fmt::format("study: `vrtrain {}` failed (exit {}); log {}:\n{}", fmt::join(c.args, " "), rc, c.log,
                              tail_of(c.log, 12));
    } else if (r.command + 1 < jobs[r.job].commands.size()) {
      if (failure.empty()) running[spawn_vrtrain(jobs[r.job].commands[r.command + 1])] = {r.job, r.command + 1};
    } else {
      finish(r.job);
    }
  }
  VR_CHECK(failure.empty(), "{}", failure);
}

// The shapes summary of an evaluation folder.
vr::eval::EvalSummary read_shapes(const std::string& eval_dir) {
  return vr::eval::EvalSummary::from_json(vr::read_json_file((fs::path(eval_dir) / "shapes.summary.json").string()));
}

bool study_has_file(const std::string& dir, const char* file) { return fs::exists(fs::path(dir) / file); }

int run_study(const std::vector<std::string>& args) {
  vr::study::StudyConfig sc;
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

  // The training config every run shares (stage, arm and seed differ by --set).
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

  const bool stage1 = sc.base_steps > 0;
  const bool can_prune = !sc.prune_remove.empty() && !sc.prune_methods.empty() &&
                         std::find(sc.arms.begin(), sc.arms.end(), "uniform") != sc.arms.end() &&
                         run_vrtrain({"prune", "--help"}, (out / "logs" / "prune_help.log").string()) == 0;
  const int64_t per_seed = (stage1 ? 1 : 0) + static_cast<int64_t>(sc.arms.size()) +
                           (can_prune ? static_cast<int64_t>(sc.prune_remove.size() * sc.prune_methods.size()) : 0);
  const int64_t total = per_seed * sc.seeds;
  int64_t done = 0;
  const std::string threads = std::to_string(sc.threads), samples = std::to_string(sc.eval_samples);
  auto eval_command = [&](const std::string& model, const std::string& eval_dir, const std::string& log) {
    return StudyCommand{{"eval", "--model", model, "--samples", samples, "--threads", threads, "--output", eval_dir},
                        log};
  };
  auto log_of = [&](const std::string& name) { return (out / "logs" / (name + ".log")).string(); };
  auto progress = [&](const std::string& name, double accuracy, const std::string& extra) {
    std::printf("[%lld/%lld %s] %-22s accuracy %5.1f%%%s\n", static_cast<long long>(++done),
                static_cast<long long>(total), vr::format_duration(elapsed()).c_str(), name.c_str(), 100 * accuracy,
                extra.c_str());
    std::fflush(stdout);
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();

  // Stage 1, one per seed: the random tiny model fully tuned (LLM layers, embeddings, lm_head, projector) into the
  // model every arm of that seed starts from, evaluated on the questions as arm "base".
  std::vector<std::string> start_model(static_cast<size_t>(sc.seeds));
  std::vector<vr::study::StudyMeasurement> base_ms(static_cast<size_t>(sc.seeds));
  {
    std::vector<StudyJob> jobs;
    for (int64_t seed = 0; seed < sc.seeds; ++seed) {
      const std::string model = (out / "models" / fmt::format("seed{}", seed)).string();
      if (!study_has_file(model, "config.json")) {
        vr::train::TinyModelOptions to;
        to.seed = seed;
        to.num_layers = sc.layers;
        to.hidden_size = sc.hidden;
        to.num_heads = sc.heads;
        vr::train::make_tiny_model(model, to);
      }
      start_model[seed] = model;
      if (!stage1) continue;
      const std::string name = fmt::format("base-s{}", seed), dir = (out / "base" / name).string();
      start_model[seed] = dir + "/final";
      StudyJob job{name, {}};
      if (!study_has_file(dir, "run_summary.json")) {
        std::vector<std::string> a = {"train", "--config", base_yaml, "--set", "model.path=" + model,
                                      "--set", "output_dir=" + dir, "--set", "train.seed=" + std::to_string(42 + seed),
                                      "--set", "train.stage=full", "--set", "train.train_embeddings=true",
                                      "--set", "train.max_steps=" + std::to_string(sc.base_steps),
                                      "--set", "train.log_every=" + std::to_string(sc.base_steps),
                                      "--set", fmt::format("train.lr={}", sc.base_lr),
                                      "--set", fmt::format("train.mm_projector_lr={}", sc.base_lr),
                                      // Other images than stage 2's, as many as the steps draw (no repeats).
                                      "--set", "data.synthetic.seed=1",
                                      "--set", fmt::format("data.synthetic.num_samples={}",
                                                           std::max(sc.train_samples, sc.base_steps * sc.batch_size))};
        if (sc.base_data == "captions") a.insert(a.end(), {"--set", "data.template=plain"});
        job.commands.push_back({a, log_of(name)});
      }
      if (!study_has_file(dir + "/eval", "shapes.summary.json"))
        job.commands.push_back(eval_command(dir + "/final", dir + "/eval", log_of(name)));
      jobs.push_back(job);
    }
    run_study_jobs(jobs, sc.parallel, [&](size_t j) {
      const int64_t seed = static_cast<int64_t>(j);
      const std::string dir = (out / "base" / jobs[j].name).string();
      const vr::eval::EvalSummary e = read_shapes(dir + "/eval");
      base_ms[j] = {"base", seed, e.metrics.at("accuracy").get<double>(), e.metrics.at("chance").get<double>(), nan,
                    nan, nan, {}};
      progress(jobs[j].name, base_ms[j].accuracy,
               fmt::format("  (stage 1: {} steps on {}, before any arm)", sc.base_steps, sc.base_data));
    });
  }

  // Stage 2: every arm of every seed from that seed's stage-1 model, `parallel` at a time.
  std::vector<vr::study::StudyMeasurement> arm_ms(sc.arms.size() * static_cast<size_t>(sc.seeds));
  std::vector<std::string> run_dirs(arm_ms.size());
  {
    std::vector<StudyJob> jobs;
    for (int64_t seed = 0; seed < sc.seeds; ++seed)
      for (const auto& arm : sc.arms) {
        const std::string name = fmt::format("{}-s{}", arm, seed), dir = (out / "runs" / name).string();
        run_dirs[jobs.size()] = dir;
        StudyJob job{name, {}};
        if (!study_has_file(dir, "run_summary.json")) {
          std::vector<std::string> a = {"train", "--config", base_yaml, "--set", "model.path=" + start_model[seed],
                                        "--set", "output_dir=" + dir,
                                        "--set", "train.seed=" + std::to_string(42 + seed),
                                        "--set", "selection.seed=" + std::to_string(seed)};
          for (const auto& o : vr::study::arm_overrides(arm)) a.insert(a.end(), {"--set", o});
          job.commands.push_back({a, log_of(name)});
        }
        if (!study_has_file(dir + "/eval", "shapes.summary.json"))
          job.commands.push_back(eval_command(dir + "/final", dir + "/eval", log_of(name)));
        jobs.push_back(job);
      }
    run_study_jobs(jobs, sc.parallel, [&](size_t j) {
      const int64_t seed = static_cast<int64_t>(j / sc.arms.size());
      const std::string& arm = sc.arms[j % sc.arms.size()];
      const vr::report::RunRecord r = vr::report::read_run(run_dirs[j]);
      const vr::eval::EvalSummary e = read_shapes(run_dirs[j] + "/eval");
      arm_ms[j] = {arm, seed, e.metrics.at("accuracy").get<double>(), e.metrics.at("chance").get<double>(),
                   r.step_time_s, static_cast<double>(r.peak_rss_bytes), r.trainable_share(), r.layers};
      progress(jobs[j].name, arm_ms[j].accuracy,
               fmt::format("  step {:4.0f} ms  layers {}", 1000 * r.step_time_s, fmt::join(r.layers, ",")));
    });
  }

  // Pruning of each seed's uniform model.
  std::vector<vr::study::StudyMeasurement> prune_ms;
  if (can_prune) {
    std::vector<StudyJob> jobs;
    std::vector<std::string> arm_names;
    std::vector<int64_t> seed_of;
    for (int64_t seed = 0; seed < sc.seeds; ++seed) {
      const std::string uniform = (out / "runs" / fmt::format("uniform-s{}", seed)).string();
      const vr::report::RunRecord ur = vr::report::read_run(uniform);
      for (int64_t n : sc.prune_remove)
        for (const auto& method : sc.prune_methods) {
          const std::string arm = fmt::format("prune-{}-{}", method, n), name = fmt::format("{}-s{}", arm, seed);
          const std::string dir = (out / "pruned" / name).string();
          StudyJob job{name, {}};
          if (!study_has_file(dir + "/model", "config.json")) {
            // Block influence (region, bi) is computed by `vrtrain prune` on calibration data of the study's config.
            std::vector<std::string> a = {"prune", "--model", uniform + "/final", "--output", dir + "/model",
                                          "--remove", std::to_string(n), "--method", method, "--config", base_yaml};
            if (method == "region") a.insert(a.end(), {"--region", fmt::format("{}", fmt::join(ur.layers, ","))});
            job.commands.push_back({a, log_of(name)});
          }
          if (!study_has_file(dir + "/eval", "shapes.summary.json"))
            job.commands.push_back(eval_command(dir + "/model", dir + "/eval", log_of(name)));
          jobs.push_back(job);
          arm_names.push_back(arm);
          seed_of.push_back(seed);
        }
    }
    prune_ms.resize(jobs.size());
    run_study_jobs(jobs, sc.parallel, [&](size_t j) {
      const vr::eval::EvalSummary e = read_shapes((out / "pruned" / jobs[j].name / "eval").string());
      prune_ms[j] = {arm_names[j], seed_of[j], e.metrics.at("accuracy").get<double>(),
                     e.metrics.at("chance").get<double>(), nan, nan, nan, {}};
      progress(jobs[j].name, prune_ms[j].accuracy, "");
    });
  }

  // Measurements in a fixed order (arms as configured, seeds ascending), whatever order the processes finished in.
  std::vector<vr::study::StudyMeasurement> ms;
  for (size_t a = 0; a < sc.arms.size(); ++a)
    for (int64_t seed = 0; seed < sc.seeds; ++seed)
      ms.push_back(arm_ms[static_cast<size_t>(seed) * sc.arms.size() + a]);
  if (stage1) ms.insert(ms.end(), base_ms.begin(), base_ms.end());
  const size_t per_seed_prunes = can_prune ? sc.prune_remove.size() * sc.prune_methods.size() : 0;
  for (size_t p = 0; p < per_seed_prunes; ++p)
    for (int64_t seed = 0; seed < sc.seeds; ++seed)
      ms.push_back(prune_ms[static_cast<size_t>(seed) * per_seed_prunes + p]);

  vr::report::CompareOptions co;
  co.runs = run_dirs;
  co.output = (out / "compare").string();
  vr::report::compare_runs(co);
  vr::study::StudyVerdict v = vr::study::study_verdict(ms);
  // CPU time of every finished child process (user + system): on a loaded machine the wall time says more about
  // the neighbours than about the study; CPU-seconds / parallel estimates the wall time on idle cores.
  struct rusage children {};
  getrusage(RUSAGE_CHILDREN, &children);
  const double child_cpu_s = static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
                             1e-6 * static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec);
  std::string md = fmt::format(
      "# Visual-region study\n\n{} seed(s), {}-layer tiny LVLM; stage 1 (shared by the arms of a seed): {}; stage 2: "
      "{} steps per arm from it; shapes accuracy on {} held-out images; {:.0f} s in total ({} processes at once, {} "
      "thread(s) each; the processes used {:.0f} CPU-seconds).\n\n{}",
      sc.seeds, sc.layers,
      stage1 ? fmt::format("{} steps of full tuning on {}", sc.base_steps, sc.base_data) : std::string("none"),
      sc.steps, sc.eval_samples, elapsed(), sc.parallel, sc.threads, child_cpu_s, v.markdown());
  if (stage1)
    md += "\n`base`: the stage-1 model every arm of its seed started from, evaluated before any arm trained.\n";
  if (!can_prune)
    md += "\nPruning arms not run: `vrtrain prune` is not available in this build, or prune.remove / prune.methods "
          "is empty, or the uniform arm is not part of the study.\n";
  vr::atomic_write_file((out / "verdict.md").string(), md);
  nlohmann::json j = v.to_json();
  j["config_yaml"] = vr::dump_yaml(sc);
  j["seconds"] = elapsed();
  j["child_cpu_seconds"] = child_cpu_s;
  j["start_models"] = start_model;
  vr::atomic_write_file((out / "verdict.json").string(), j.dump(2) + "\n");
  std::printf("\n%s\nwrote %s/verdict.md, verdict.json, compare/\n", md.c_str(), out.c_str());
  return 0;
}

vr::cli::Registration registration_study{"study", "The visual-region study: strategies and pruning on synthetic shapes, with a verdict",
                          &run_study};

}  // namespace cmd_study
