// `vrtrain compare RUN_DIR... [--output DIR] [--baseline RUN]`: a Markdown + JSON table of runs and plots
// (vr/report/compare.h). Regenerate at any time: it only reads the run directories.
#include <cstdio>
#include <string>
#include <vector>

#include "vr/report/compare.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_compare {  // not anonymous: unity builds put several commands in one translation unit

const char* kFooter = R"(Reads from each run directory: run_summary.json and metrics.jsonl (written by `vrtrain train`),
config.yaml, selection_*.json (`vrtrain score`), eval/*.summary.json (`vrtrain eval`).
Writes into --output: compare.md, compare.json, loss_curves.svg/.png, layer_scores.svg/.png,
layer_selection.svg/.png.

Example (the researcher's path):
  vrtrain --config configs/tiny_synthetic.yaml --set output_dir=runs/uniform
  vrtrain --config configs/tiny_synthetic.yaml --config configs/tiny_full.yaml --set output_dir=runs/full
  vrtrain eval --model runs/uniform/final && vrtrain eval --model runs/full/final
  vrtrain compare runs/full runs/uniform --output runs/compare
)";

int run_compare(const std::vector<std::string>& args) {
  vr::report::CompareOptions opt;
  CLI::App app = vr::cli::make_app("compare", "Put training runs side by side: table (Markdown, JSON) and plots",
                                   kFooter);
  app.add_option("runs", opt.runs, "run directories (output_dir of `vrtrain train`)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->type_name("RUN_DIR...");
  app.add_option("--output", opt.output, "directory for the report (default: compare)")->type_name("DIR");
  app.add_option("--baseline", opt.baseline, "run name or directory the others are relative to (default: the "
                                             "first full-tuning run, else the first run)")
      ->type_name("RUN");
  if (auto code = vr::cli::parse(app, args)) return *code;
  vr::report::CompareReport rep = vr::report::compare_runs(opt);
  std::printf("%s\n", rep.markdown.c_str());
  for (const auto& f : rep.files) std::printf("wrote %s\n", f.c_str());
  return 0;
}

vr::cli::Registration registration_compare{"compare", "Runs side by side: Markdown/JSON table, loss curves, layer plots (SVG, PNG)",
                          &run_compare};

}  // namespace cmd_compare
