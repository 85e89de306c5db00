// "synthetic-shapes": a built-in dataset generated on the fly, for first runs, CI and tests (no files).
// Sample i is a function of (seed, i) only: a light background with 1-3 shapes of one kind and one colour
// in distinct quadrants of the image. The text is either a caption (template "plain", stage-1 style):
//   human "<image>"  gpt "two red circles."
// or 1-3 question/answer turns whose answers are fully determined by the image (so the task is learnable)
// from a vocabulary of 12 words:
//   "What shape is in the image?" -> circle | square | triangle
//   "What colour is the shape?" / "What colour are the shapes?" -> red | green | blue | yellow
//   "How many shapes are there?" -> one | two | three
//   "Is the shape on the left or on the right?" (one shape only) -> left | right
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/data/dataset.h"

namespace vr::data {

constexpr const char* kSyntheticShapesName = "synthetic-shapes";

struct SyntheticShapesOptions {
  int64_t num_samples = 1024;
  int image_size = 64;  // square images, drawn at this size (the image processor resizes them)
  uint64_t seed = 0;
  bool captions = false;  // true: one caption per image (template "plain"); false: question/answer turns
};

// What one image shows.
struct ShapeScene {
  int shape = 0;   // index into shape_names()
  int colour = 0;  // index into colour_names()
  int count = 1;   // 1..3
  std::vector<int> quadrants;  // distinct, 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
};

const std::vector<std::string>& shape_names();   // circle, square, triangle
const std::vector<std::string>& colour_names();  // red, green, blue, yellow

// A question the image of a scene answers, with its closed answer set (training text and evaluation share it).
struct ShapeQuestion {
  std::string type;                     // shape | colour | count | position
  std::string question;                 // e.g. "What colour are the shapes?"
  std::vector<std::string> candidates;  // every possible answer of this type
  int answer = 0;                       // index of the right one
};
// shape, colour, count, and position when there is exactly one shape; in that order.
std::vector<ShapeQuestion> questions_about(const ShapeScene& scene);

class SyntheticShapesDataset : public Dataset {
 public:
  explicit SyntheticShapesDataset(SyntheticShapesOptions opt);
  int64_t size() const override { return opt_.num_samples; }
  Sample get(int64_t index) const override;
  std::string source() const override { return kSyntheticShapesName; }
  int64_t modality_length(int64_t index) const override;

  ShapeScene scene(int64_t index) const;
  // The image of `scene`; `index` seeds the jitter (sizes, offsets, shades).
  image::Image draw(const ShapeScene& scene, int64_t index) const;
  const SyntheticShapesOptions& options() const { return opt_; }

 private:
  SyntheticShapesOptions opt_;
  std::vector<Turn> conversation(int64_t index, const ShapeScene& scene) const;
};

}  // namespace vr::data
