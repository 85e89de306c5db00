// The comparison table from made-up runs (baseline choice, relative columns, missing values), and the plots:
// SVG well-formed, PNG a real PNG of the stated size.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/report/canvas.h"
#include "vr/report/compare.h"
#include "vr/report/report_plots.h"

namespace vr::report::compare_report_test {
namespace {

RunRecord run(const std::string& name, const std::string& strategy, double acc, double step) {
  RunRecord r;
  r.dir = "runs/" + name;
  r.name = name;
  r.strategy = strategy;
  r.stage = strategy == "full" ? "full" : "sft";
  r.method = "full";
  r.num_layers = 8;
  r.layers = strategy == "full" ? std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7} : std::vector<int64_t>{1, 5};
  r.trainable_params = strategy == "full" ? 800 : 200;
  r.total_params = 1000;
  r.steps = 10;
  r.samples = 80;
  r.step_time_s = step;
  r.tokens_per_s = 1000;
  r.peak_rss_bytes = 100 << 20;
  r.first_loss = 3, r.final_loss = 1, r.best_loss = 0.9;
  r.loss_steps = {1, 2, 3};
  r.losses = {3, 2, 1};
  EvalSummary e;
  e.model = r.dir + "/final";
  e.task = "shapes";
  e.n = 100;
  e.metrics = {{"accuracy", acc}, {"chance", 0.33}};
  r.evals.push_back(e);
  return r;
}

TEST(EvalCompare, TableBaselineAndRelativeScores) {
  CompareReport rep = build_comparison({run("uni", "uniform", 0.6, 0.05), run("fullrun", "full", 0.8, 0.1)}, "");
  EXPECT_EQ(rep.baseline, 1u);  // the full-tuning run, though listed second
  const auto& rows = rep.json["runs"];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[0]["evals"]["shapes"]["vs_baseline"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(rows[0]["step_time_vs_baseline"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(rows[0]["trainable_share"].get<double>(), 0.2);
  EXPECT_EQ(rows[1]["layers"].size(), 8u);
  EXPECT_NE(rep.markdown.find("| uni | uniform | 1,5 |"), std::string::npos) << rep.markdown;
  EXPECT_NE(rep.markdown.find("60.0% (75.0% of fullrun)"), std::string::npos) << rep.markdown;
  EXPECT_NE(rep.markdown.find("| fullrun (baseline) | full | all |"), std::string::npos) << rep.markdown;
  // Explicit baseline; an unknown one is an error.
  EXPECT_EQ(build_comparison({run("a", "uniform", 0.5, 1), run("b", "random", 0.25, 1)}, "b").baseline, 1u);
  EXPECT_THROW(build_comparison({run("a", "uniform", 0.5, 1)}, "zzz"), vr::Error);
  // A run without evaluations or timings still gets a row, with dashes.
  RunRecord bare;
  bare.name = "bare";
  bare.step_time_s = bare.tokens_per_s = bare.final_loss = bare.best_loss = NAN;
  rep = build_comparison({run("x", "full", 0.5, 1), bare}, "");
  EXPECT_TRUE(rep.json["runs"][1]["final_loss"].is_null());
  EXPECT_NE(rep.markdown.find("| bare | – |"), std::string::npos) << rep.markdown;
}

TEST(EvalCompare, GpuColumnsOnlyWhenARunHasGpuFigures) {
  // CPU runs: the table has no GPU columns and the rows no GPU keys.
  CompareReport cpu = build_comparison({run("a", "uniform", 0.5, 1), run("b", "full", 0.6, 1)}, "");
  EXPECT_EQ(cpu.markdown.find("GPU peak"), std::string::npos) << cpu.markdown;
  EXPECT_EQ(cpu.markdown.find("MFU"), std::string::npos);
  EXPECT_FALSE(cpu.json["runs"][0].contains("gpu_peak_allocated_bytes_max"));
  EXPECT_FALSE(cpu.json["runs"][0].contains("mfu_median"));
  // A CUDA run beside a CPU one: the columns appear, the CPU run shows dashes.
  RunRecord g = run("g", "uniform", 0.5, 1);
  g.figures.gpu_peak_allocated_bytes_max = int64_t{3} << 30;  // 3072 MiB
  g.figures.gpu_peak_reserved_bytes_max = int64_t{4} << 30;
  g.figures.mfu_median = 0.413;
  CompareReport mixed = build_comparison({g, run("b", "full", 0.6, 1)}, "");
  EXPECT_NE(mixed.markdown.find("| GPU peak | MFU |"), std::string::npos) << mixed.markdown;
  EXPECT_NE(mixed.markdown.find("| 3072 MiB | 41.3% |"), std::string::npos) << mixed.markdown;
  EXPECT_NE(mixed.markdown.find("| – | – | 60.0% |"), std::string::npos) << mixed.markdown;
  EXPECT_EQ(mixed.json["runs"][0]["gpu_peak_allocated_bytes_max"].get<int64_t>(), int64_t{3} << 30);
  EXPECT_DOUBLE_EQ(mixed.json["runs"][0]["mfu_median"].get<double>(), 0.413);
  EXPECT_FALSE(mixed.json["runs"][1].contains("mfu_median"));
}

TEST(EvalCompare, PlotsRenderAsSvgAndPng) {
  std::vector<LayerRow> rows = {{"a", 8, {1, 5}, {0.1, 0.9, -0.2, 0.3, 0.0, 0.8, NAN, 0.2}}, {"b", 8, {0, 1}, {}}};
  const std::string dir = vr::test::temp_dir("plots");
  for (const Plot& p : {loss_curves("loss <a&b>", {{"a", {1, 2, 3}, {3, 2, 1}}, {"b", {1, 2}, {2.5, NAN}}}),
                        score_bars("scores", rows), selection_strip("strip", rows)}) {
    const std::string svg = render_svg(p.width, p.height, p.draw);
    EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_EQ(svg.find("<a&b>"), std::string::npos);  // escaped
    const auto files = write_svg_and_png(p.width, p.height, p.draw, dir + "/plot");
    const std::string png = vr::read_file(files[1]);
    ASSERT_GT(png.size(), 100u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    // IHDR: width and height, big-endian, at bytes 16..23.
    auto be32 = [&](size_t o) {
      return (static_cast<uint32_t>(static_cast<uint8_t>(png[o])) << 24) |
             (static_cast<uint32_t>(static_cast<uint8_t>(png[o + 1])) << 16) |
             (static_cast<uint32_t>(static_cast<uint8_t>(png[o + 2])) << 8) | static_cast<uint8_t>(png[o + 3]);
    };
    EXPECT_EQ(be32(16), static_cast<uint32_t>(p.width));
    EXPECT_EQ(be32(20), static_cast<uint32_t>(p.height));
  }
  const std::string strip = render_svg(selection_strip("s", rows).width, selection_strip("s", rows).height,
                                       selection_strip("s", rows).draw);
  // 8 cells per row, 2 rows: run a's layers 1 and 5 in its colour (#1f77b4).
  size_t n = 0;
  for (size_t p = strip.find("#1f77b4"); p != std::string::npos; p = strip.find("#1f77b4", p + 1)) ++n;
  EXPECT_EQ(n, 2u);
}

}  // namespace
}  // namespace vr::report::compare_report_test
