// synthetic-shapes: reproducible, answers determined by the image, small vocabulary.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "vr/core/error.h"
#include "vr/data/dataset.h"
#include "vr/data/synthetic_shapes.h"

namespace data_synthetic_test {

using namespace vr::data; using namespace vr::image;

namespace {

// What a trivial "vision model" reads off the image: per quadrant, the saturated (shape) pixels.
struct Reading {
  int count = 0;
  std::string colour;
  std::vector<int> quadrants;
  double fill = 0;  // shape pixels / bounding box area, of the first shape
};

Reading read_image(const Image& img) {
  const uint8_t ref[4][3] = {{215, 40, 40}, {40, 170, 60}, {40, 70, 215}, {230, 200, 30}};
  Reading r;
  std::map<int, int> votes;
  for (int q = 0; q < 4; ++q) {
    int x0 = (q % 2) * img.width / 2, y0 = (q / 2) * img.height / 2;
    int pixels = 0, minx = 1 << 30, maxx = -1, miny = 1 << 30, maxy = -1;
    for (int y = y0; y < y0 + img.height / 2; ++y)
      for (int x = x0; x < x0 + img.width / 2; ++x) {
        const uint8_t* p = img.row(y) + 3 * x;
        if (std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}) < 60) continue;  // background is grey
        ++pixels;
        minx = std::min(minx, x), maxx = std::max(maxx, x), miny = std::min(miny, y), maxy = std::max(maxy, y);
        int best = 0, best_d = 1 << 30;
        for (int c = 0; c < 4; ++c) {
          int d = 0;
          for (int k = 0; k < 3; ++k) d += (p[k] - ref[c][k]) * (p[k] - ref[c][k]);
          if (d < best_d) best = c, best_d = d;
        }
        votes[best]++;
      }
    if (pixels > 10) {
      r.quadrants.push_back(q);
      if (r.count++ == 0) r.fill = pixels / double((maxx - minx + 1) * (maxy - miny + 1));
    }
  }
  int best = 0;
  for (auto [c, v] : votes)
    if (v > votes[best]) best = c;
  r.colour = colour_names()[best];
  return r;
}

}  // namespace

TEST(SyntheticShapes, ReproducibleFromTheSeed) {
  SyntheticShapesDataset a({100, 48, 7, false}), b({100, 48, 7, false}), c({100, 48, 8, false});
  int differ = 0;
  for (int64_t i : {0, 5, 99}) {
    Sample sa = a.get(i), sb = b.get(i), sc = c.get(i);
    EXPECT_EQ(sa.images[0].pixels, sb.images[0].pixels);
    EXPECT_EQ(sa.conversations.size(), sb.conversations.size());
    for (size_t t = 0; t < sa.conversations.size(); ++t) EXPECT_EQ(sa.conversations[t].value, sb.conversations[t].value);
    differ += sa.images[0].pixels != sc.images[0].pixels;
  }
  EXPECT_GT(differ, 0);
  EXPECT_EQ(a.get(3).id, "shapes-3");
  EXPECT_EQ(a.get(3).images[0].width, 48);
  EXPECT_THROW(a.get(100), vr::Error);
}

TEST(SyntheticShapes, AnswersAreDeterminedByTheImage) {
  SyntheticShapesDataset ds({300, 64, 1, false});
  std::set<std::string> answers;
  std::map<std::string, std::vector<double>> fills;
  for (int64_t i = 0; i < ds.size(); ++i) {
    Sample s = ds.get(i);
    ASSERT_EQ(s.images.size(), 1u);
    Reading r = read_image(s.images[0]);
    ASSERT_GE(s.conversations.size(), 2u);
    EXPECT_EQ(s.conversations[0].value.rfind("<image>\n", 0), 0u);
    for (size_t t = 0; t + 1 < s.conversations.size(); t += 2) {
      const std::string& q = s.conversations[t].value;
      const std::string& a = s.conversations[t + 1].value;
      answers.insert(a);
      if (q.find("colour") != std::string::npos) EXPECT_EQ(a, r.colour) << "sample " << i;
      if (q.find("How many") != std::string::npos)
        EXPECT_EQ(a, (std::vector<std::string>{"zero", "one", "two", "three"})[r.count]) << "sample " << i;
      if (q.find("left or") != std::string::npos) {
        ASSERT_EQ(r.count, 1);
        EXPECT_EQ(a, r.quadrants[0] % 2 == 0 ? "left" : "right") << "sample " << i;
      }
      if (q.find("What shape") != std::string::npos) fills[a].push_back(r.fill);
    }
  }
  EXPECT_LE(answers.size(), 12u);
  // Shapes are told apart by how much of their bounding box they fill: triangle ~0.5 < circle ~0.79 < square 1.
  ASSERT_EQ(fills.size(), 3u);
  for (double f : fills["triangle"]) EXPECT_LT(f, 0.68);
  for (double f : fills["circle"]) {
    EXPECT_GT(f, 0.68);
    EXPECT_LT(f, 0.9);
  }
  for (double f : fills["square"]) EXPECT_GT(f, 0.9);
}

TEST(SyntheticShapes, CaptionsForPlainTemplate) {
  DatasetOptions opt;
  opt.path = "synthetic-shapes";
  opt.template_name = "plain";
  opt.synthetic_samples = 10;
  auto ds = open_dataset(opt);
  ASSERT_EQ(ds->size(), 10);
  for (int64_t i = 0; i < 10; ++i) {
    Sample s = ds->get(i);
    ASSERT_EQ(s.conversations.size(), 2u);
    EXPECT_EQ(s.conversations[0].value, "<image>");
    Reading r = read_image(s.images[0]);
    EXPECT_NE(s.conversations[1].value.find(r.colour), std::string::npos) << s.conversations[1].value;
    EXPECT_GT(ds->modality_length(i), 0);
  }
}

}  // namespace data_synthetic_test
