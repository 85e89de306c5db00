// SVG bar chart: well-formed, one bar per finite value, highlighted bars coloured, heights proportional.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/error.h"
#include "vr/report/bar_chart.h"

namespace vr::report::bar_chart_test {
namespace {

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(EvalBarChart, BarsHighlightAndHeights) {
  BarChart c;
  c.title = "scores <&>";
  c.values = {1.0, 2.0, NAN, 4.0};
  c.highlighted = {false, true, false, true};
  std::string svg = render_svg(c);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("scores &lt;&amp;&gt;"), std::string::npos);  // escaped title
  EXPECT_EQ(count(svg, "<title>layer "), 3);                         // NaN draws no bar
  EXPECT_EQ(count(svg, "fill=\"#d62728\"><title>"), 2);             // the highlighted bars
  // Bar heights are proportional to the values (axis from 0).
  std::regex bar("height=\"([0-9.]+)\" fill=\"#[0-9a-f]+\"><title>layer (\\d): ");
  std::map<int, double> h;
  for (std::sregex_iterator it(svg.begin(), svg.end(), bar), end; it != end; ++it)
    h[std::stoi((*it)[2])] = std::stod((*it)[1]);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_NEAR(h[1] / h[0], 2.0, 0.02);
  EXPECT_NEAR(h[3] / h[0], 4.0, 0.02);
}

TEST(EvalBarChart, NegativeValuesAndErrors) {
  BarChart c;
  c.values = {-1.0, 1.0};
  std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<title>layer "), 2);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  c.labels = {"a"};
  EXPECT_THROW(render_svg(c), vr::Error);
  c.labels.clear();
  c.highlighted = {true};
  EXPECT_THROW(render_svg(c), vr::Error);
}

TEST(EvalBarChart, WritesFile) {
  BarChart c;
  c.values = {0.0, 0.0};  // all zero: still a valid axis
  std::string path = vr::test::temp_dir("bar_chart") + "/chart.svg";
  write_svg(c, path);
  std::stringstream ss(vr::read_file(path));
  EXPECT_EQ(ss.str(), render_svg(c));
  EXPECT_EQ(ss.str().find("nan"), std::string::npos);
}

}  // namespace
}  // namespace vr::report::bar_chart_test
