#include "vr/study/study.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/core/error.h"

namespace vr::study {

void StudyConfig::bind(vr::ConfigBinder& b) {
  b.field("model.layers", layers, "decoder layers of the tiny LVLM");
  b.field("model.hidden", hidden, "LLM width");
  b.field("model.heads", heads, "attention heads");
  b.field("base.steps", base_steps, "stage 1 (shared by the arms of a seed): optimizer steps of full tuning");
  b.field("base.lr", base_lr, "stage 1 learning rate");
  b.field("base.data", base_data, "stage 1 data: captions (plain template) | questions (as stage 2)");
  b.field("train.steps", steps, "stage 2: optimizer steps per training arm");
  b.field("train.batch_size", batch_size, "samples per step");
  b.field("train.samples", train_samples, "synthetic-shapes training images");
  b.field("train.image_size", image_size, "drawn image size in pixels");
  b.field("train.threads", threads, "CPU threads per process");
  b.field("parallel", parallel, "vrtrain processes run at once");
  b.field("train.lr", lr, "learning rate (LLM and projector)");
  b.field("train.fraction", fraction, "share of layers tuned by the selective arms");
  b.field("eval.samples", eval_samples, "held-out synthetic-shapes images per evaluation (3-4 questions each)");
  b.field("seeds", seeds, "seeds per arm (model init, data order, random selection)");
  b.field("arms", arms, "training arms: full, uniform, consecutive-first|middle|last, random, block_influence, attention");
  b.field("prune.remove", prune_remove, "layer counts removed from the uniform run's model");
  b.field("prune.methods", prune_methods, "vrtrain prune methods: region, bi, last");
}

void StudyConfig::validate() const {
  VR_CHECK(layers >= 4, "study: model.layers must be >= 4, got {}", layers);
  VR_CHECK(steps > 0 && batch_size > 0 && eval_samples > 0, "study: train.steps, train.batch_size and eval.samples "
                                                             "must be > 0");
  VR_CHECK(base_steps >= 0, "study: base.steps must be >= 0 (0: no stage 1), got {}", base_steps);
  VR_CHECK(base_data == "captions" || base_data == "questions", "study: base.data must be captions or questions, got "
           "'{}'", base_data);
  VR_CHECK(parallel >= 1 && threads >= 1, "study: parallel and train.threads must be >= 1");
  VR_CHECK(seeds > 0, "study: seeds must be > 0, got {}", seeds);
  const auto known = known_arms();
  for (const auto& a : arms)
    VR_CHECK(std::find(known.begin(), known.end(), a) != known.end(), "study: unknown arm '{}' (known: {})", a,
             fmt::format("{}", fmt::join(known, ", ")));
  for (int64_t n : prune_remove)
    VR_CHECK(n > 0 && n < layers, "study: prune.remove {} must be in [1, {})", n, layers);
  for (const auto& m : prune_methods)
    VR_CHECK(m == "region" || m == "bi" || m == "last", "study: unknown prune method '{}' (region, bi, last)", m);
}

std::vector<std::string> known_arms() {
  return {"full", "uniform", "consecutive-first", "consecutive-middle", "consecutive-last",
          "random", "block_influence", "attention"};
}

std::vector<std::string> arm_overrides(const std::string& arm) {
  if (arm == "full") return {"train.stage=full"};
  if (arm.rfind("consecutive-", 0) == 0)
    return {"train.stage=sft", "selection.strategy=consecutive", "selection.position=" + arm.substr(12)};
  if (arm == "uniform" || arm == "random" || arm == "block_influence" || arm == "attention")
    return {"train.stage=sft", "selection.strategy=" + arm};
  VR_FAIL("study: unknown arm '{}'", arm);
}

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(v.size());
}
double stddev(const std::vector<double>& v) {  // sample standard deviation; 0 for fewer than 2 values
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}
std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : "–"; }

}  // namespace

StudyVerdict study_verdict(const std::vector<StudyMeasurement>& ms) {
  StudyVerdict v;
  std::map<std::string, std::vector<const StudyMeasurement*>> by_arm;
  std::vector<std::string> order;
  double chance_sum = 0;
  for (const auto& m : ms) {
    if (!by_arm.count(m.arm)) order.push_back(m.arm);
    by_arm[m.arm].push_back(&m);
    chance_sum += m.chance;
  }
  v.chance = ms.empty() ? 0 : chance_sum / static_cast<double>(ms.size());
  std::map<std::string, ArmStats> stats;
  for (const auto& arm : order) {
    std::vector<double> acc, t, mem, share;
    for (const auto* m : by_arm[arm]) {
      acc.push_back(m->accuracy);
      t.push_back(m->step_time_s);
      mem.push_back(m->peak_rss_bytes);
      share.push_back(m->trainable_share);
    }
    ArmStats s{arm, static_cast<int64_t>(acc.size()), mean(acc), stddev(acc), mean(t), mean(mem), mean(share)};
    stats[arm] = s;
    v.arms.push_back(s);
  }
  auto has = [&](const std::string& a) { return stats.count(a) > 0; };
  const bool learnt = has("full") && stats["full"].mean > v.chance + 0.05;
  const std::string nothing_learnt = has("full") ? fmt::format("full tuning reached {} against chance {}: the model "
                                                               "learnt too little for the comparison to mean anything",
                                                               pct(stats["full"].mean), pct(v.chance))
                                                 : "";
  // 1. uniform 25 % vs full.
  {
    Claim c{"uniform 25 % reaches >= 95 % of full tuning's accuracy", "not measured", ""};
    if (has("full") && has("uniform")) {
      const ArmStats &f = stats["full"], &u = stats["uniform"];
      const double share = u.mean / f.mean;
      c.evidence = fmt::format("uniform {} ± {} vs full {} ± {} = {} of full; step time x{:.2f}, peak RSS x{:.2f}, "
                               "trainable {} vs {}",
                               pct(u.mean), pct(u.spread), pct(f.mean), pct(f.spread), pct(share),
                               u.step_time_s / f.step_time_s, u.peak_rss_bytes / f.peak_rss_bytes,
                               pct(u.trainable_share), pct(f.trainable_share));
      // Within the spread: uniform's mean is closer to 95 % of full's than the larger standard deviation.
      const double margin = u.mean - 0.95 * f.mean, noise = std::max(u.spread, f.spread);
      if (!learnt) c.verdict = "inconclusive", c.evidence += "; " + nothing_learnt;
      else if (std::abs(margin) <= noise)
        c.verdict = "inconclusive",
        c.evidence += fmt::format(" — 95 % of full is {}, {:+.1f} points from uniform: within the spread over seeds",
                                  pct(0.95 * f.mean), 100 * margin);
      else c.verdict = margin > 0 ? "holds" : "does not hold";
    }
    v.claims.push_back(c);
  }
  // 2. uniform vs each consecutive block.
  for (const char* pos : {"first", "middle", "last"}) {
    const std::string arm = std::string("consecutive-") + pos;
    Claim c{"uniform 25 % beats consecutive 25 % (" + std::string(pos) + " layers)", "not measured", ""};
    if (has("uniform") && has(arm)) {
      const ArmStats &u = stats["uniform"], &k = stats[arm];
      const double diff = u.mean - k.mean, noise = std::max(u.spread, k.spread);
      c.evidence = fmt::format("uniform {} ± {} vs {} {} ± {} (difference {:+.1f} points)", pct(u.mean),
                               pct(u.spread), arm, pct(k.mean), pct(k.spread), 100 * diff);
      if (!learnt) c.verdict = "inconclusive", c.evidence += "; " + nothing_learnt;
      else if (std::abs(diff) <= noise) c.verdict = "inconclusive", c.evidence += " — within the spread over seeds";
      else c.verdict = diff > 0 ? "holds" : "does not hold";
    }
    v.claims.push_back(c);
  }
  // 3. pruning: accuracy lost from the uniform model, per removed-layer count, paired by seed.
  std::map<int64_t, std::map<std::string, std::vector<double>>> drops;  // n -> method -> drop per seed
  std::map<int64_t, double> uniform_by_seed;
  for (const auto& m : ms)
    if (m.arm == "uniform") uniform_by_seed[m.seed] = m.accuracy;
  for (const auto& m : ms) {
    if (m.arm.rfind("prune-", 0) != 0) continue;
    const size_t dash = m.arm.rfind('-');
    const std::string method = m.arm.substr(6, dash - 6);
    const int64_t n = std::stoll(m.arm.substr(dash + 1));
    if (uniform_by_seed.count(m.seed)) drops[n][method].push_back(uniform_by_seed[m.seed] - m.accuracy);
  }
  if (drops.empty())
    v.claims.push_back({"pruning outside the visual region loses less than bi / last pruning", "not measured",
                        "no pruning arm was measured"});
  for (const auto& [n, by_method] : drops) {
    Claim c{fmt::format("pruning {} layers outside the visual region loses less than bi and last", n), "not measured",
            ""};
    if (by_method.count("region") && (by_method.count("bi") || by_method.count("last"))) {
      const double region = mean(by_method.at("region"));
      double worst_gap = std::numeric_limits<double>::infinity(), noise = stddev(by_method.at("region"));
      for (const auto& [method, d] : by_method) {
        c.evidence += fmt::format("{}{} loses {:+.1f} ± {:.1f} points", c.evidence.empty() ? "" : ", ", method,
                                  100 * mean(d), 100 * stddev(d));
        if (method != "region") worst_gap = std::min(worst_gap, mean(d) - region), noise = std::max(noise, stddev(d));
      }
      if (!learnt) c.verdict = "inconclusive", c.evidence += "; " + nothing_learnt;
      else if (std::abs(worst_gap) <= noise && noise > 0) c.verdict = "inconclusive", c.evidence += " — within the spread";
      else c.verdict = worst_gap > 0 ? "holds" : "does not hold";
    }
    v.claims.push_back(c);
  }
  return v;
}

std::string StudyVerdict::markdown() const {
  const ArmStats* full = nullptr;
  for (const auto& a : arms)
    if (a.arm == "full") full = &a;
  std::string s = "| arm | seeds | shapes accuracy (mean ± sd) | % of full | step time | × full | peak RSS | trainable |\n"
                  "|---|---|---|---|---|---|---|---|\n";
  for (const auto& a : arms) {
    const bool trained = std::isfinite(a.step_time_s) && a.step_time_s > 0;
    s += fmt::format("| {} | {} | {} ± {} | {} | {} | {} | {} | {} |\n", a.arm, a.n, pct(a.mean), pct(a.spread),
                     full ? pct(a.mean / full->mean) : "–", trained ? fmt::format("{:.0f} ms", 1000 * a.step_time_s) : "–",
                     trained && full ? fmt::format("{:.2f}", a.step_time_s / full->step_time_s) : "–",
                     trained ? fmt::format("{:.0f} MiB", a.peak_rss_bytes / 1048576.0) : "–",
                     trained ? pct(a.trainable_share) : "–");
  }
  s += fmt::format("\nChance: {}.\n\n| claim | verdict | evidence |\n|---|---|---|\n", pct(chance));
  for (const auto& c : claims) s += fmt::format("| {} | **{}** | {} |\n", c.claim, c.verdict, c.evidence);
  return s;
}

nlohmann::json StudyVerdict::to_json() const {
  nlohmann::json j = {{"chance", chance}, {"arms", nlohmann::json::array()}, {"claims", nlohmann::json::array()}};
  auto n = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const auto& a : arms)
    j["arms"].push_back({{"arm", a.arm}, {"seeds", a.n}, {"accuracy_mean", n(a.mean)}, {"accuracy_sd", n(a.spread)},
                         {"step_time_s", n(a.step_time_s)}, {"peak_rss_bytes", n(a.peak_rss_bytes)},
                         {"trainable_share", n(a.trainable_share)}});
  for (const auto& c : claims) j["claims"].push_back({{"claim", c.claim}, {"verdict", c.verdict}, {"evidence", c.evidence}});
  return j;
}

}  // namespace vr::study
