// Closed-set visual question answering on the synthetic-shapes data: did a model learn to *see*?
// For every held-out image and each of its questions (shape: 3 answers, colour: 4, count: 3, left/right: 2,
// asked only for one shape), the model scores every candidate answer as the training template renders it
// (sum of the log-probabilities of the answer's supervised tokens, end token included) and picks the best.
// Accuracy is reported per question type next to chance (1 / number of candidates). A text-only model can only
// reach chance: the answers are determined by the image alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vr/image/image_processor.h"

namespace vr::model {
class LvlmImpl;
}
namespace vr::text {
class Tokenizer;
}

namespace vr::eval {

struct ShapesVqaOptions {
  std::string template_name = "vicuna_v1";
  vr::image::AspectMode aspect = vr::image::AspectMode::Pad;
  int64_t num_samples = 64;  // images; each gives 3 or 4 questions
  uint64_t seed = 1000003;   // synthetic-shapes seed of the evaluation images (training default: 0)
  int image_size = 56;
};

struct QuestionTypeScore {
  std::string type;  // shape | colour | count | position
  int64_t correct = 0, total = 0;
  double chance = 0;  // 1 / candidates
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

struct ShapesVqaReport {
  std::vector<QuestionTypeScore> by_type;
  int64_t correct = 0, total = 0;
  double chance = 0;  // mean chance over all questions asked
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
  std::string table() const;  // one row per type + overall, for people
  nlohmann::json to_json() const;
};

// Runs without gradients in eval mode (the model's mode is restored); inputs go to the model's device/dtype.
ShapesVqaReport evaluate_shapes_vqa(vr::model::LvlmImpl& model, const vr::text::Tokenizer& tok,
                                    const vr::image::ImageProcessor& proc, const ShapesVqaOptions& opt);

}  // namespace vr::eval
