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
  b.field("arms", arms, "training arms: full, uniform, consecutive-first|middle|last, random, block_influence, "
                        "attention, angular, layer_contribution, triplet");
  b.field("prune.remove", prune_remove, "layer counts removed from the uniform run's model");
  b.field("prune.methods", prune_methods, "vrtrain prune methods: region, angular, bi, last, heal");
  b.field("prune.heal_method", heal_method, "heal: the method that prunes before healing (region, angular, bi, last)");
  b.field("prune.heal_steps", heal_steps, "heal: optimizer steps of the healing run (lm_head + last layers)");
  b.field("prune.heal_layers", heal_layers, "heal: the last k layers the healing run trains (with lm_head)");
  b.field("text.samples", text_samples, "held-out captions of the text-retention loss (0: not measured)");
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
  const std::vector<std::string> methods = {"region", "angular", "bi", "last", "heal"};
  for (const auto& m : prune_methods)
    VR_CHECK(std::find(methods.begin(), methods.end(), m) != methods.end(),
             "study: unknown prune method '{}' (region, angular, bi, last, heal)", m);
  VR_CHECK(heal_method != "heal" && std::find(methods.begin(), methods.end(), heal_method) != methods.end(),
           "study: prune.heal_method must be region, angular, bi or last, got '{}'", heal_method);
  VR_CHECK(heal_steps > 0 && heal_layers > 0, "study: prune.heal_steps and prune.heal_layers must be > 0");
  VR_CHECK(text_samples >= 0, "study: text.samples must be >= 0 (0: not measured), got {}", text_samples);
}

std::vector<std::string> known_arms() {
  return {"full",   "uniform",         "consecutive-first", "consecutive-middle", "consecutive-last",
          "random", "block_influence", "attention",         "angular",            "layer_contribution",
          "triplet"};
}

std::vector<std::string> arm_overrides(const std::string& arm) {
  if (arm == "full") return {"train.stage=full"};
  if (arm.rfind("consecutive-", 0) == 0)
    return {"train.stage=sft", "selection.strategy=consecutive", "selection.position=" + arm.substr(12)};
  const auto known = known_arms();
  if (std::find(known.begin(), known.end(), arm) != known.end())  // a selection strategy of that name
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
std::string nats(double v) { return std::isfinite(v) ? fmt::format("{:.3f}", v) : "–"; }

// What every claim reads: per-arm statistics and whether the model learnt anything visual at all.
struct Evidence {
  std::map<std::string, ArmStats> stats;
  bool learnt = false;          // full tuning > chance + 5 points
  std::string nothing_learnt;   // the sentence that says otherwise
  bool has(const std::string& arm) const { return stats.count(arm) > 0; }
  const ArmStats& at(const std::string& arm) const { return stats.at(arm); }
};

// "holds" / "does not hold" by the sign of `gain` (in the claim's favour); "inconclusive" when |gain| is within
// `noise` (the larger spread over seeds), or when nothing visual was learnt and the claim is about vision.
void decide(Claim& c, double gain, double noise, const Evidence& e, bool visual = true,
            const std::string& within = " — within the spread over seeds") {
  if (visual && !e.learnt) c.verdict = "inconclusive", c.evidence += "; " + e.nothing_learnt;
  else if (std::abs(gain) <= noise) c.verdict = "inconclusive", c.evidence += within;
  else c.verdict = gain > 0 ? "holds" : "does not hold";
}

// 1. uniform 25 % vs full: within the spread when uniform's mean is closer to 95 % of full's than the larger sd.
Claim uniform_vs_full(const Evidence& e) {
  Claim c{"uniform 25 % reaches >= 95 % of full tuning's accuracy", "not measured", ""};
  if (!e.has("full") || !e.has("uniform")) return c;
  const ArmStats &f = e.at("full"), &u = e.at("uniform");
  c.evidence = fmt::format("uniform {} ± {} vs full {} ± {} = {} of full; step time x{:.2f}, peak RSS x{:.2f}, "
                           "trainable {} vs {}",
                           pct(u.mean), pct(u.spread), pct(f.mean), pct(f.spread), pct(u.mean / f.mean),
                           u.step_time_s / f.step_time_s, u.peak_rss_bytes / f.peak_rss_bytes, pct(u.trainable_share),
                           pct(f.trainable_share));
  const double margin = u.mean - 0.95 * f.mean;
  decide(c, margin, std::max(u.spread, f.spread), e, true,
         fmt::format(" — 95 % of full is {}, {:+.1f} points from uniform: within the spread over seeds",
                     pct(0.95 * f.mean), 100 * margin));
  return c;
}

// 2. uniform vs one consecutive block.
Claim uniform_vs_consecutive(const Evidence& e, const std::string& pos) {
  const std::string arm = "consecutive-" + pos;
  Claim c{"uniform 25 % beats consecutive 25 % (" + pos + " layers)", "not measured", ""};
  if (!e.has("uniform") || !e.has(arm)) return c;
  const ArmStats &u = e.at("uniform"), &k = e.at(arm);
  c.evidence = fmt::format("uniform {} ± {} vs {} {} ± {} (difference {:+.1f} points)", pct(u.mean), pct(u.spread),
                           arm, pct(k.mean), pct(k.spread), 100 * (u.mean - k.mean));
  decide(c, u.mean - k.mean, std::max(u.spread, k.spread), e);
  return c;
}

// Accuracy lost from each seed's uniform model: removed count -> method -> drop per seed (paired by seed).
using PruneDrops = std::map<int64_t, std::map<std::string, std::vector<double>>>;
PruneDrops prune_drops(const std::vector<StudyMeasurement>& ms) {
  std::map<int64_t, double> uniform_by_seed;
  for (const auto& m : ms)
    if (m.arm == "uniform") uniform_by_seed[m.seed] = m.accuracy;
  PruneDrops drops;
  for (const auto& m : ms) {
    if (m.arm.rfind("prune-", 0) != 0 || !uniform_by_seed.count(m.seed)) continue;
    const size_t dash = m.arm.rfind('-');
    drops[std::stoll(m.arm.substr(dash + 1))][m.arm.substr(6, dash - 6)].push_back(uniform_by_seed[m.seed] - m.accuracy);
  }
  return drops;
}

// 3. for one count, a method that keeps the visual region (region: block influence, the paper's table; angular:
// the paper's criterion) loses less than the region-blind baselines bi and last.
Claim region_pruning(const Evidence& e, int64_t n, const std::string& method,
                     const std::map<std::string, std::vector<double>>& by_method) {
  Claim c{method == "region" ? fmt::format("pruning {} layers outside the visual region loses less than bi and last", n)
                             : fmt::format("{} pruning of {} layers outside the visual region loses less than bi and "
                                           "last", method, n),
          "not measured", ""};
  const std::vector<double>& own = by_method.at(method);
  double worst_gap = std::numeric_limits<double>::infinity(), noise = stddev(own);
  c.evidence = fmt::format("{} loses {:+.1f} ± {:.1f} points", method, 100 * mean(own), 100 * stddev(own));
  for (const char* baseline : {"bi", "last"}) {
    if (!by_method.count(baseline)) continue;
    const std::vector<double>& d = by_method.at(baseline);
    c.evidence += fmt::format(", {} loses {:+.1f} ± {:.1f} points", baseline, 100 * mean(d), 100 * stddev(d));
    worst_gap = std::min(worst_gap, mean(d) - mean(own)), noise = std::max(noise, stddev(d));
  }
  if (!std::isfinite(worst_gap)) return c;
  // One seed (no spread): decided by the sign alone.
  decide(c, worst_gap, noise > 0 ? noise : -1, e, true, " — within the spread");
  return c;
}

// 4. healing (arXiv "Reassessing Layer Pruning"): pruned-then-healed loses less than region pruning unhealed.
Claim healed_pruning(const Evidence& e, int64_t n, const std::map<std::string, std::vector<double>>& by_method) {
  Claim c{fmt::format("healed pruning of {} layers loses less than region pruning without healing", n), "not measured",
          ""};
  if (!by_method.count("heal") || !by_method.count("region")) return c;
  const std::vector<double>&h = by_method.at("heal"), &r = by_method.at("region");
  c.evidence = fmt::format("heal loses {:+.1f} ± {:.1f} points, region {:+.1f} ± {:.1f} points", 100 * mean(h),
                           100 * stddev(h), 100 * mean(r), 100 * stddev(r));
  const double noise = std::max(stddev(h), stddev(r));
  decide(c, mean(r) - mean(h), noise > 0 ? noise : -1, e, true, " — within the spread");
  return c;
}

// 5. text retention (the paper's MMLU claim, by proxy): uniform's held-out caption loss rises less over the base
// model than full tuning's. Not gated on visual learning: forgetting the stage-1 language is measured either way.
Claim text_retention(const Evidence& e) {
  Claim c{"uniform 25 % keeps the stage-1 language better than full tuning (held-out caption loss rises less)",
          "not measured", ""};
  if (!e.has("full") || !e.has("uniform")) return c;
  const ArmStats &f = e.at("full"), &u = e.at("uniform");
  if (!std::isfinite(f.text_rise) || !std::isfinite(u.text_rise)) return c;
  c.evidence = fmt::format("caption loss over the base model: uniform {:+.3f} ± {:.3f} nats, full {:+.3f} ± {:.3f}",
                           u.text_rise, u.text_rise_spread, f.text_rise, f.text_rise_spread);
  decide(c, f.text_rise - u.text_rise, std::max(u.text_rise_spread, f.text_rise_spread), e, false);
  return c;
}

// Per-arm means and spreads, in the order the arms were first measured; text loss and its rise over the base model
// of the same seed where measured.
std::vector<ArmStats> arm_stats(const std::vector<StudyMeasurement>& ms) {
  std::map<std::string, std::vector<const StudyMeasurement*>> by_arm;
  std::vector<std::string> order;
  std::map<int64_t, double> base_text;
  for (const auto& m : ms) {
    if (!by_arm.count(m.arm)) order.push_back(m.arm);
    by_arm[m.arm].push_back(&m);
    if (m.arm == "base" && std::isfinite(m.text_loss)) base_text[m.seed] = m.text_loss;
  }
  std::vector<ArmStats> stats;
  for (const auto& arm : order) {
    std::vector<double> acc, t, mem, share, text, rise;
    for (const auto* m : by_arm[arm]) {
      acc.push_back(m->accuracy);
      t.push_back(m->step_time_s);
      mem.push_back(m->peak_rss_bytes);
      share.push_back(m->trainable_share);
      if (!std::isfinite(m->text_loss)) continue;
      text.push_back(m->text_loss);
      if (base_text.count(m->seed)) rise.push_back(m->text_loss - base_text[m->seed]);
    }
    ArmStats s{arm, static_cast<int64_t>(acc.size()), mean(acc), stddev(acc), mean(t), mean(mem), mean(share)};
    s.text_loss = mean(text), s.text_loss_spread = stddev(text);
    s.text_rise = mean(rise), s.text_rise_spread = stddev(rise);
    stats.push_back(s);
  }
  return stats;
}

}  // namespace

StudyVerdict study_verdict(const std::vector<StudyMeasurement>& ms) {
  StudyVerdict v;
  v.arms = arm_stats(ms);
  double chance_sum = 0;
  for (const auto& m : ms) chance_sum += m.chance;
  v.chance = ms.empty() ? 0 : chance_sum / static_cast<double>(ms.size());
  Evidence e;
  for (const auto& a : v.arms) e.stats[a.arm] = a;
  e.learnt = e.has("full") && e.at("full").mean > v.chance + 0.05;
  if (e.has("full"))
    e.nothing_learnt = fmt::format("full tuning reached {} against chance {}: the model learnt too little for the "
                                   "comparison to mean anything",
                                   pct(e.at("full").mean), pct(v.chance));
  v.claims.push_back(uniform_vs_full(e));
  for (const char* pos : {"first", "middle", "last"}) v.claims.push_back(uniform_vs_consecutive(e, pos));
  const PruneDrops drops = prune_drops(ms);
  if (drops.empty())
    v.claims.push_back({"pruning outside the visual region loses less than bi / last pruning", "not measured",
                        "no pruning arm was measured"});
  for (const auto& [n, by_method] : drops)
    for (const char* method : {"region", "angular"})
      if (by_method.count(method)) v.claims.push_back(region_pruning(e, n, method, by_method));
  for (const auto& [n, by_method] : drops)
    if (by_method.count("heal")) v.claims.push_back(healed_pruning(e, n, by_method));
  v.claims.push_back(text_retention(e));
  return v;
}

std::string StudyVerdict::markdown() const {
  const ArmStats* full = nullptr;
  bool text = false;  // text-retention columns only when some arm has them
  for (const auto& a : arms) {
    if (a.arm == "full") full = &a;
    text = text || std::isfinite(a.text_loss);
  }
  std::string s = "| arm | seeds | shapes accuracy (mean ± sd) | % of full | step time | × full | peak RSS | trainable |";
  s += text ? " caption loss (mean ± sd) | Δ vs base |\n|---|---|---|---|---|---|---|---|---|---|\n"
            : "\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& a : arms) {
    const bool trained = std::isfinite(a.step_time_s) && a.step_time_s > 0;
    s += fmt::format("| {} | {} | {} ± {} | {} | {} | {} | {} | {} |", a.arm, a.n, pct(a.mean), pct(a.spread),
                     full ? pct(a.mean / full->mean) : "–", trained ? fmt::format("{:.0f} ms", 1000 * a.step_time_s) : "–",
                     trained && full ? fmt::format("{:.2f}", a.step_time_s / full->step_time_s) : "–",
                     trained ? fmt::format("{:.0f} MiB", a.peak_rss_bytes / 1048576.0) : "–",
                     trained ? pct(a.trainable_share) : "–");
    if (text)
      s += fmt::format(" {} | {} |", std::isfinite(a.text_loss) ? nats(a.text_loss) + " ± " + nats(a.text_loss_spread)
                                                               : "–",
                       std::isfinite(a.text_rise) && a.arm != "base"
                           ? fmt::format("{:+.3f} ± {:.3f}", a.text_rise, a.text_rise_spread)
                           : "–");
    s += "\n";
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
                         {"trainable_share", n(a.trainable_share)}, {"text_loss_mean", n(a.text_loss)},
                         {"text_loss_sd", n(a.text_loss_spread)}, {"text_loss_rise_mean", n(a.text_rise)},
                         {"text_loss_rise_sd", n(a.text_rise_spread)}});
  for (const auto& c : claims) j["claims"].push_back({{"claim", c.claim}, {"verdict", c.verdict}, {"evidence", c.evidence}});
  return j;
}

}  // namespace vr::study
