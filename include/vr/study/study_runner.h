// Runs the study (vr/study/study.h) as its plan (vr/study/study_plan.h) says: every arm as its own `vrtrain
// train` and `vrtrain eval` process (so step time and peak memory are measured per run, as a user would see them),
// the pruning arms as `vrtrain prune` + `vrtrain eval`, `parallel` processes at once (vr/core/child_processes.h);
// then the compare report of every training run and the verdict (verdict.md, verdict.json).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vr/study/study.h"
#include "vr/study/study_plan.h"

namespace vr::study {

struct StudyRunOptions {
  std::string output = "runs/study";  // the study folder
  std::string exe;                    // the vrtrain executable every piece runs as
  std::function<void(const std::string&)> say;  // one progress line per finished piece
};

// Runs (or continues) the study in options.output and returns verdict.md's text.
std::string run_study(const StudyConfig& sc, const StudyRunOptions& options);

// Runs every job (its commands in order), at most `parallel` processes at once, jobs started in list order;
// `done(i)` runs here as job i finishes. After a failed command (or a throwing `done`) no new command starts, the
// running ones finish, then the first failure is thrown with the tail of its log.
void run_study_jobs(const std::vector<StudyJob>& jobs, int64_t parallel, const std::string& exe,
                    const std::function<void(size_t)>& done);

}  // namespace vr::study
