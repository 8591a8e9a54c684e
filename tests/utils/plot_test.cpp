// utils::curves_svg: line charts as self-contained SVG.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graph/error.h"
#include "graft/utils/plot.h"
#include "support/xml_check.h"

namespace graft::utils {
namespace {

using graft::testing::xml_error;

TEST(Plot, NiceTicksUseOneTwoFiveSteps) {
  EXPECT_EQ(nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(1, 10, 3), (std::vector<double>{0, 5, 10}));
  const std::vector<double> t = nice_ticks(0.23, 0.61, 4);  // the ticks cover the range
  ASSERT_EQ(t.size(), 6u);
  EXPECT_NEAR(t.front(), 0.2, 1e-12);
  EXPECT_NEAR(t.back(), 0.7, 1e-12);
  EXPECT_NEAR(t[1] - t[0], 0.1, 1e-12);
  EXPECT_THROW(nice_ticks(1, 0), Error);
}

TEST(Plot, CurvesAreWellFormedSvgWithAxesLabelsAndLegend) {
  Panel loss{"training loss", "epoch", "loss", {{"train", {1, 2, 3}, {2.0, 1.0, 0.5}}}};
  Panel acc{"accuracy & more", "epoch", "%", {{"train", {1, 2, 3}, {50, 70, NAN}}, {"test <held out>", {1, 2, 3}, {40, 60, 65}}}};
  const std::string svg = curves_svg({loss, acc}, 400, 300);
  EXPECT_EQ(xml_error(svg), "");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("width=\"800\""), std::string::npos);
  EXPECT_NE(svg.find(">training loss</text>"), std::string::npos);
  EXPECT_NE(svg.find(">accuracy &amp; more</text>"), std::string::npos);
  EXPECT_NE(svg.find(">test &lt;held out&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
  // Three lines: train loss, train accuracy (two finite points), test accuracy.
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 3u);
}

TEST(Plot, RejectsMismatchedSeries) {
  Panel bad{"t", "x", "y", {{"s", {1, 2}, {1}}}};
  EXPECT_THROW(curves_svg({bad}), Error);
  EXPECT_THROW(curves_svg({}), Error);
}

}  // namespace
}  // namespace graft::utils
