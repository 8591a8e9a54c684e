// utils::ProgressBar: the training-loop progress bar the examples use.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "graft/utils/progress.h"

namespace graft::utils {
namespace {

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

}  // namespace
}  // namespace graft::utils
