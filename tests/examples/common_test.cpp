// The shared example utilities: progress bar, SVG curves, metrics, and the tests' own XML check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include <graft/graph/factory.h>

#include "common/metrics.h"
#include "common/plot.h"
#include "common/progress.h"
#include "example_runner.h"

namespace graft::examples {
namespace {

using testing::xml_error;

TEST(ProgressBar, PlainOutputIsOneLineWithoutControlCharacters) {
  std::ostringstream out;
  ProgressBar bar("epoch 1/2", 4, out, /*interactive=*/false);
  bar.update(10, 1.0, 5);
  bar.update(10, 3.0, 7);
  bar.update(10, 2.0, 6);
  bar.update(10, 2.0, 6);
  EXPECT_EQ(out.str(), "");  // nothing while running
  bar.finish("test acc 50.00%");
  const std::string s = out.str();
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
  EXPECT_NE(s.find("epoch 1/2 4/4"), std::string::npos) << s;
  EXPECT_NE(s.find("loss 2.0000"), std::string::npos) << s;
  EXPECT_NE(s.find("acc 60.00%"), std::string::npos) << s;  // 24 of 40
  EXPECT_NE(s.find("samples/s"), std::string::npos) << s;
  EXPECT_NE(s.find("test acc 50.00%"), std::string::npos) << s;
  EXPECT_DOUBLE_EQ(bar.mean_loss(), 2.0);
  EXPECT_DOUBLE_EQ(*bar.accuracy(), 0.6);
}

TEST(ProgressBar, TerminalOutputRedrawsInPlaceWithBarAndEta) {
  std::ostringstream out;
  ProgressBar bar("train", 3, out, /*interactive=*/true, "steps");
  bar.update(1, 0.5);  // within 100 ms of the start: not redrawn
  const std::string mid = bar.line(24);
  EXPECT_NE(mid.find("[########................]"), std::string::npos) << mid;
  EXPECT_NE(mid.find("ETA "), std::string::npos) << mid;
  EXPECT_EQ(mid.find("acc"), std::string::npos) << "no accuracy was reported";
  bar.update(1, 0.5);
  bar.update(1, 0.5);  // the last step always draws
  bar.finish();
  const std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_NE(s.find("\x1b[K"), std::string::npos);
  EXPECT_NE(s.find("[########################] 3/3"), std::string::npos) << s;
  EXPECT_NE(s.find("steps/s"), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
}

TEST(ProgressBar, RedrawnLinesFitTheTerminal) {
  setenv("COLUMNS", "40", 1);  // used when standard output is not a terminal (as under ctest)
  const auto columns = static_cast<size_t>(terminal_columns());
  std::ostringstream out;
  {
    ProgressBar bar("a rather long label for a narrow terminal", 2, out, /*interactive=*/true);
    bar.update(100, 0.25, 50);
  }
  unsetenv("COLUMNS");
  const std::string s = out.str();
  for (size_t at = s.find('\r'); at != std::string::npos; at = s.find('\r', at + 1)) {
    const size_t end = s.find("\x1b[K", at);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LT(end - at - 1, columns) << s.substr(at + 1, end - at - 1);
  }
}

TEST(ProgressBar, FormatsDurations) {
  EXPECT_EQ(format_duration(7.4), "0:07");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(NAN), "--:--");
}

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

TEST(Metrics, RecallPrecisionAndMacroF1AsScikitLearn) {
  // sklearn: y_true=[0,0,0,1,1,2], y_pred=[0,0,1,1,0,0]
  //   recall [2/3, 1/2, 0], precision [2/4, 1/2, 0], f1 [4/7, 1/2, 0], macro-F1 (4/7 + 1/2) / 3
  ConfusionMatrix cm(3);
  cm.add(tensor({0, 0, 1, 1, 0, 0}), tensor({0, 0, 0, 1, 1, 2}));
  EXPECT_EQ(cm.total(), 6);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(0), 2.0 / 3);
  EXPECT_DOUBLE_EQ(cm.recall(1), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(2), 0.0);
  EXPECT_DOUBLE_EQ(cm.precision(0), 0.5);
  EXPECT_DOUBLE_EQ(cm.precision(2), 0.0);
  EXPECT_DOUBLE_EQ(cm.f1(0), 4.0 / 7);
  EXPECT_NEAR(cm.macro_f1(), (4.0 / 7 + 0.5) / 3, 1e-15);
  EXPECT_THROW(cm.add(3, 0), Error);
}

TEST(Metrics, CountsCorrectArgmaxRows) {
  Tensor logits = tensor({0.1, 0.9, 0.8, 0.2, 0.3, 0.7}, {3, 2});
  EXPECT_EQ(count_correct(logits, tensor({1, 0, 0})), 2);
}

TEST(XmlCheck, AcceptsWellFormedAndNamesTheProblem) {
  EXPECT_EQ(xml_error("<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<!-- c --><svg a=\"1\"><g><text>a &amp; b</text></g><p/></svg>\n"), "");
  EXPECT_NE(xml_error("<svg><g></svg>"), "");
  EXPECT_NE(xml_error("<svg a=1></svg>"), "");
  EXPECT_NE(xml_error("<svg>&nbsp;</svg>"), "");
  EXPECT_NE(xml_error("<svg></svg><svg></svg>"), "");
  EXPECT_NE(xml_error(""), "");
  EXPECT_NE(xml_error("<svg>"), "");
}

}  // namespace
}  // namespace graft::examples
