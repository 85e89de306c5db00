// The study's verdict arithmetic on made-up measurements: holds, does not hold, inconclusive within the spread,
// inconclusive when nothing was learnt, pruning drops paired by seed.
#include <gtest/gtest.h>

#include <cmath>

#include "vr/core/error.h"
#include "vr/study/study.h"

namespace vr::study::study_verdict_test {
namespace {

StudyMeasurement m(const std::string& arm, int64_t seed, double acc, double step = 0.1, double rss = 1e8) {
  return {arm, seed, acc, 0.4, step, rss, 0.5, {}};
}

const Claim& claim(const StudyVerdict& v, const std::string& starts) {
  for (const auto& c : v.claims)
    if (c.claim.rfind(starts, 0) == 0) return c;
  throw vr::Error("no claim " + starts);
}

TEST(EvalStudyVerdict, MeansSpreadsAndClaims) {
  std::vector<StudyMeasurement> ms = {
      m("full", 0, 0.80, 0.2, 2e8), m("full", 1, 0.90, 0.2, 2e8),      // 85 ± 7.07
      m("uniform", 0, 0.82, 0.1, 1e8), m("uniform", 1, 0.84, 0.1, 1e8),  // 83: 97.6 % of full, but 95 % of full
                                                                          // (80.75) is within full's spread
      m("consecutive-first", 0, 0.60), m("consecutive-first", 1, 0.62),  // clearly below
      m("consecutive-last", 0, 0.90), m("consecutive-last", 1, 0.92),    // clearly above
      m("consecutive-middle", 0, 0.80), m("consecutive-middle", 1, 0.85),  // within the spread
      m("prune-region-2", 0, 0.80), m("prune-region-2", 1, 0.82),  // drops 2, 2 points
      m("prune-bi-2", 0, 0.60), m("prune-bi-2", 1, 0.62),          // drops 22 points
      m("prune-last-2", 0, 0.50), m("prune-last-2", 1, 0.52),
  };
  const StudyVerdict v = study_verdict(ms);
  ASSERT_EQ(v.arms.size(), 8u);
  EXPECT_EQ(v.arms[0].arm, "full");
  EXPECT_NEAR(v.arms[0].mean, 0.85, 1e-12);
  EXPECT_NEAR(v.arms[0].spread, std::sqrt(0.005), 1e-12);  // sample sd of {0.8, 0.9}
  EXPECT_EQ(claim(v, "uniform 25 % reaches").verdict, "inconclusive");
  EXPECT_NE(claim(v, "uniform 25 % reaches").evidence.find("step time x0.50, peak RSS x0.50"), std::string::npos)
      << claim(v, "uniform 25 % reaches").evidence;
  EXPECT_NE(claim(v, "uniform 25 % reaches").evidence.find("within the spread"), std::string::npos);
  EXPECT_EQ(claim(v, "uniform 25 % beats consecutive 25 % (first").verdict, "holds");
  EXPECT_EQ(claim(v, "uniform 25 % beats consecutive 25 % (last").verdict, "does not hold");
  EXPECT_EQ(claim(v, "uniform 25 % beats consecutive 25 % (middle").verdict, "inconclusive");
  EXPECT_EQ(claim(v, "pruning 2 layers").verdict, "holds");
  EXPECT_NE(v.markdown().find("| full | 2 | 85.0% ± 7.1% |"), std::string::npos) << v.markdown();
  EXPECT_EQ(v.to_json()["claims"].size(), v.claims.size());
}

TEST(EvalStudyVerdict, UniformClaimHoldsOrFailsOnlyOutsideTheSpread) {
  // full 85 ± 1.41; 95 % of it is 80.75.
  std::vector<StudyMeasurement> ms = {m("full", 0, 0.84), m("full", 1, 0.86), m("uniform", 0, 0.83),
                                      m("uniform", 1, 0.84)};
  EXPECT_EQ(claim(study_verdict(ms), "uniform 25 % reaches").verdict, "holds");  // 83.5: 2.75 points above
  ms[2].accuracy = 0.77, ms[3].accuracy = 0.78;                                  // 77.5: 3.25 points below
  EXPECT_EQ(claim(study_verdict(ms), "uniform 25 % reaches").verdict, "does not hold");
  ms[2].accuracy = 0.80, ms[3].accuracy = 0.81;                                  // 80.5: 0.25 points below
  EXPECT_EQ(claim(study_verdict(ms), "uniform 25 % reaches").verdict, "inconclusive");
}

TEST(EvalStudyVerdict, FailsHonestlyAndSaysWhenNothingWasLearnt) {
  StudyVerdict v = study_verdict({m("full", 0, 0.9), m("uniform", 0, 0.5), m("prune-region-2", 0, 0.1),
                                  m("prune-last-2", 0, 0.45)});
  EXPECT_EQ(claim(v, "uniform 25 % reaches").verdict, "does not hold");
  EXPECT_EQ(claim(v, "uniform 25 % beats consecutive 25 % (first").verdict, "not measured");
  EXPECT_EQ(claim(v, "pruning 2 layers").verdict, "does not hold");  // region lost 40 points, last 5
  // Full tuning at chance (0.4 + 0.02): every claim is inconclusive.
  v = study_verdict({m("full", 0, 0.42), m("uniform", 0, 0.42)});
  EXPECT_EQ(claim(v, "uniform 25 % reaches").verdict, "inconclusive");
  EXPECT_NE(claim(v, "uniform 25 % reaches").evidence.find("learnt too little"), std::string::npos);
}

StudyMeasurement with_text(StudyMeasurement m, double text_loss) {
  m.text_loss = text_loss;
  return m;
}

TEST(EvalStudyVerdict, TextRetentionIsTheCaptionLossRiseOverTheSameSeedsBase) {
  // base 1.0 / 2.0 (seeds 0 / 1); uniform rises by 0.10 and 0.12, full by 0.50 and 0.60.
  std::vector<StudyMeasurement> ms = {
      with_text(m("full", 0, 0.8), 1.50),    with_text(m("full", 1, 0.8), 2.60),
      with_text(m("uniform", 0, 0.8), 1.10), with_text(m("uniform", 1, 0.8), 2.12),
      with_text(m("base", 0, 0.4), 1.00),    with_text(m("base", 1, 0.4), 2.00),
  };
  StudyVerdict v = study_verdict(ms);
  const ArmStats& full = v.arms[0];
  EXPECT_NEAR(full.text_loss, 2.05, 1e-12);
  EXPECT_NEAR(full.text_rise, 0.55, 1e-12);                  // paired by seed, not 2.05 - 1.5
  EXPECT_NEAR(full.text_rise_spread, std::sqrt(0.005), 1e-12);  // sd of {0.5, 0.6}
  EXPECT_NEAR(v.arms[1].text_rise, 0.11, 1e-12);
  const Claim& c = claim(v, "uniform 25 % keeps the stage-1 language");
  EXPECT_EQ(c.verdict, "holds") << c.evidence;  // 0.44 nats apart, spreads 0.07 and 0.014
  EXPECT_NE(v.markdown().find("| caption loss (mean ± sd) | Δ vs base |"), std::string::npos) << v.markdown();
  EXPECT_NE(v.markdown().find("| 2.050 ± 0.778 | +0.550 ± 0.071 |"), std::string::npos) << v.markdown();
  EXPECT_TRUE(v.to_json()["arms"][0]["text_loss_rise_mean"].is_number());
  // Uniform forgets more: does not hold; within the spread: inconclusive.
  ms[2].text_loss = 2.0, ms[3].text_loss = 3.1;
  EXPECT_EQ(claim(study_verdict(ms), "uniform 25 % keeps").verdict, "does not hold");
  ms[2].text_loss = 1.52, ms[3].text_loss = 2.55;  // rises 0.52, 0.55 vs 0.50, 0.60
  EXPECT_EQ(claim(study_verdict(ms), "uniform 25 % keeps").verdict, "inconclusive");
  // Not measured: no caption losses, and then no text columns.
  v = study_verdict({m("full", 0, 0.8), m("uniform", 0, 0.8)});
  EXPECT_EQ(claim(v, "uniform 25 % keeps").verdict, "not measured");
  EXPECT_EQ(v.markdown().find("| caption loss (mean"), std::string::npos);
}

TEST(EvalStudyVerdict, AngularAndHealedPruningClaims) {
  std::vector<StudyMeasurement> ms = {
      m("full", 0, 0.9),           m("full", 1, 0.9),            m("uniform", 0, 0.80), m("uniform", 1, 0.82),
      m("prune-region-2", 0, 0.70), m("prune-region-2", 1, 0.72),  // drops 10, 10
      m("prune-angular-2", 0, 0.78), m("prune-angular-2", 1, 0.80),  // drops 2, 2
      m("prune-bi-2", 0, 0.75),    m("prune-bi-2", 1, 0.77),      // drops 5, 5
      m("prune-last-2", 0, 0.60),  m("prune-last-2", 1, 0.62),    // drops 20, 20
      m("prune-heal-2", 0, 0.79),  m("prune-heal-2", 1, 0.815),   // drops 1, 0.5
  };
  const StudyVerdict v = study_verdict(ms);
  // region loses more than bi: does not hold; angular loses less than both: holds. heal and angular are not
  // baselines of the region claim.
  EXPECT_EQ(claim(v, "pruning 2 layers outside").verdict, "does not hold");
  EXPECT_EQ(claim(v, "pruning 2 layers outside").evidence.find("heal"), std::string::npos);
  EXPECT_EQ(claim(v, "angular pruning of 2 layers").verdict, "holds") << claim(v, "angular pruning").evidence;
  EXPECT_EQ(claim(v, "healed pruning of 2 layers").verdict, "holds") << claim(v, "healed pruning").evidence;
}

TEST(EvalStudyVerdict, ArmsAndConfig) {
  EXPECT_EQ(arm_overrides("consecutive-last"),
            (std::vector<std::string>{"train.stage=sft", "selection.strategy=consecutive", "selection.position=last"}));
  EXPECT_EQ(arm_overrides("full"), std::vector<std::string>{"train.stage=full"});
  EXPECT_THROW(arm_overrides("everything"), vr::Error);
  for (const char* criterion : {"angular", "layer_contribution", "triplet"})
    EXPECT_EQ(arm_overrides(criterion),
              (std::vector<std::string>{"train.stage=sft", std::string("selection.strategy=") + criterion}));
  StudyConfig c;
  c.validate();
  c.arms = {"uniform", "nope"};
  EXPECT_THROW(c.validate(), vr::Error);
  c = StudyConfig{};
  c.heal_method = "heal";
  EXPECT_THROW(c.validate(), vr::Error);
  c = StudyConfig{};
  c.prune_methods = {"region", "shortgpt"};
  EXPECT_THROW(c.validate(), vr::Error);
}

}  // namespace
}  // namespace vr::study::study_verdict_test
