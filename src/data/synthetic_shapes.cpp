#include "vr/data/synthetic_shapes.h"

#include <algorithm>
#include <cmath>

#include "vr/core/error.h"

namespace vr::data {

namespace {

// splitmix64: a tiny, well-mixed generator. Every sample gets its own stream keyed by (seed, index, purpose),
// so a sample never depends on which samples were generated before it.
class Rng {
 public:
  Rng(uint64_t seed, int64_t index, uint64_t purpose)
      : state_(seed * 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(index) + 1) * 0xBF58476D1CE4E5B9ull ^
               purpose * 0x94D049BB133111EBull) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int uniform(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }

 private:
  uint64_t state_;
};

constexpr uint64_t kSceneStream = 1, kDrawStream = 2, kTextStream = 3;
const uint8_t kColours[4][3] = {{215, 40, 40}, {40, 170, 60}, {40, 70, 215}, {230, 200, 30}};
const char* kCountWords[] = {"zero", "one", "two", "three"};

// Inside test for a shape centred at (cx, cy) with half-size r.
bool inside(int shape, double x, double y, double cx, double cy, double r) {
  double dx = x - cx, dy = y - cy;
  switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;                             // circle
    case 1: return std::abs(dx) <= r * 0.85 && std::abs(dy) <= r * 0.85;  // square
    default:  // isosceles triangle, apex up at cy - r, base 2r wide at cy + r: stays inside the r-box
      return dy >= -r && dy <= r && std::abs(dx) <= (dy + r) * 0.5;
  }
}

}  // namespace

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> names = {"circle", "square", "triangle"};
  return names;
}
const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> names = {"red", "green", "blue", "yellow"};
  return names;
}

SyntheticShapesDataset::SyntheticShapesDataset(SyntheticShapesOptions opt) : opt_(opt) {
  VR_CHECK(opt_.num_samples > 0, "synthetic-shapes: the number of samples must be positive, got {}", opt_.num_samples);
  VR_CHECK(opt_.image_size >= 16 && opt_.image_size <= 4096, "synthetic-shapes: image size must be in [16, 4096], got {}",
           opt_.image_size);
}

ShapeScene SyntheticShapesDataset::scene(int64_t index) const {
  VR_CHECK(index >= 0 && index < size(), "synthetic-shapes: index {} out of range [0, {})", index, size());
  Rng rng(opt_.seed, index, kSceneStream);
  ShapeScene s;
  s.shape = rng.uniform(0, 2);
  s.colour = rng.uniform(0, 3);
  s.count = rng.uniform(1, 3);
  std::vector<int> quads = {0, 1, 2, 3};
  for (int k = 3; k > 0; --k) std::swap(quads[k], quads[rng.uniform(0, k)]);
  s.quadrants.assign(quads.begin(), quads.begin() + s.count);
  return s;
}

image::Image SyntheticShapesDataset::draw(const ShapeScene& scene, int64_t index) const {
  Rng rng(opt_.seed, index, kDrawStream);
  const int n = opt_.image_size;
  image::Image img;
  img.width = img.height = n;
  uint8_t bg = static_cast<uint8_t>(rng.uniform(215, 250));
  img.pixels.assign(static_cast<size_t>(n) * n * 3, bg);
  int jitter = rng.uniform(-20, 20);
  uint8_t colour[3];
  for (int c = 0; c < 3; ++c) colour[c] = static_cast<uint8_t>(std::clamp(kColours[scene.colour][c] + jitter, 0, 255));
  const double quarter = n / 4.0;
  for (int q : scene.quadrants) {
    // Quadrant centre +- up to 1/16 of the image; half-size 1/8..1/6 of the image: stays inside the quadrant.
    double cx = (q % 2 == 0 ? quarter : 3 * quarter) + rng.uniform(-n / 16, n / 16);
    double cy = (q / 2 == 0 ? quarter : 3 * quarter) + rng.uniform(-n / 16, n / 16);
    double r = n / 8.0 + rng.uniform(0, n / 24);
    for (int y = std::max(0, static_cast<int>(cy - r - 1)); y < std::min(n, static_cast<int>(cy + r + 2)); ++y)
      for (int x = std::max(0, static_cast<int>(cx - r - 1)); x < std::min(n, static_cast<int>(cx + r + 2)); ++x)
        if (inside(scene.shape, x + 0.5, y + 0.5, cx, cy, r)) std::copy(colour, colour + 3, img.row(y) + 3 * x);
  }
  return img;
}

std::vector<ShapeQuestion> questions_about(const ShapeScene& s) {
  std::vector<ShapeQuestion> q = {
      {"shape", "What shape is in the image?", shape_names(), s.shape},
      {"colour", s.count == 1 ? "What colour is the shape?" : "What colour are the shapes?", colour_names(), s.colour},
      {"count", "How many shapes are there?", {kCountWords[1], kCountWords[2], kCountWords[3]}, s.count - 1},
  };
  if (s.count == 1)
    q.push_back({"position", "Is the shape on the left or on the right?", {"left", "right"}, s.quadrants[0] % 2});
  return q;
}

std::vector<Turn> SyntheticShapesDataset::conversation(int64_t index, const ShapeScene& s) const {
  const std::string& shape = shape_names()[s.shape];
  const std::string& colour = colour_names()[s.colour];
  const std::string count = kCountWords[s.count];
  if (opt_.captions)
    return {{"human", kImageToken}, {"gpt", count + " " + colour + " " + shape + (s.count > 1 ? "s." : ".")}};

  std::vector<std::pair<std::string, std::string>> qa;
  for (const ShapeQuestion& q : questions_about(s)) qa.push_back({q.question, q.candidates[q.answer]});
  Rng rng(opt_.seed, index, kTextStream);
  for (int k = static_cast<int>(qa.size()) - 1; k > 0; --k) std::swap(qa[k], qa[rng.uniform(0, k)]);
  int turns = rng.uniform(1, 3);
  std::vector<Turn> out;
  for (int t = 0; t < turns; ++t) {
    out.push_back({"human", t == 0 ? std::string(kImageToken) + "\n" + qa[t].first : qa[t].first});
    out.push_back({"gpt", qa[t].second});
  }
  return out;
}

Sample SyntheticShapesDataset::get(int64_t index) const {
  ShapeScene s = scene(index);
  Sample sample;
  sample.id = fmt::format("shapes-{}", index);
  sample.conversations = conversation(index, s);
  sample.images.push_back(draw(s, index));
  return sample;
}

int64_t SyntheticShapesDataset::modality_length(int64_t index) const {
  Sample text_only;
  text_only.conversations = conversation(index, scene(index));
  return std::abs(modality_length_of(text_only));  // every synthetic sample has an image
}

}  // namespace vr::data
