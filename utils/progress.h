#pragma once
// A terminal progress bar for training loops: steps done, running loss and accuracy, throughput and ETA.
//
//   ProgressBar bar("epoch 3/10", loader.size());
//   for (...) { ...; bar.update(batch_size, loss, correct_fraction); }
//   bar.finish("test acc 88.1%");
//
// The clock stops at the last of `total_steps` updates. On a terminal the bar redraws one line in place (carriage return, at most ten times a second). When the
// output is not a terminal (a pipe, a file, CI) it prints nothing while running and one plain line at
// finish(), with no control characters, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace graft::utils {

/// Whether standard output is a terminal.
bool stdout_is_terminal();
/// The terminal's width in columns (COLUMNS, else 80, when standard output is not a terminal).
int terminal_columns();

/// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds);

class ProgressBar {
 public:
  /// `total_steps` updates make 100%. `unit` names what update() counts ("samples" gives "samples/s").
  /// `interactive` defaults to whether `out` is std::cout and standard output is a terminal.
  ProgressBar(std::string label, int64_t total_steps, std::ostream& out, std::optional<bool> interactive = {},
              std::string unit = "samples");
  ProgressBar(std::string label, int64_t total_steps);  // on std::cout

  /// One step done, covering `count` units (samples), with this step's loss and, if known, the number of
  /// correct predictions among them. The bar shows the loss and accuracy averaged over the steps so far.
  void update(int64_t count, double loss, std::optional<int64_t> correct = {});
  /// Ends the bar: the final state plus `summary`, and a newline.
  void finish(const std::string& summary = "");

  int64_t steps() const { return steps_; }
  double mean_loss() const { return steps_ ? loss_sum_ / static_cast<double>(steps_) : 0.0; }
  /// Correct predictions over counted units, or nothing when no update reported any.
  std::optional<double> accuracy() const;
  /// Seconds from the start to the last step (or to now, while steps remain): work done after the last
  /// step, such as an evaluation before finish(), does not count.
  double elapsed_seconds() const;
  /// Units per second over elapsed_seconds().
  double throughput() const;

  /// The line as it would be drawn now, with a bar of `bar_width` cells (none for 0), without control
  /// characters. On a terminal the bar narrows, and the line is cut, to fit the terminal's width.
  std::string line(int bar_width = 0) const;

 private:
  void draw();
  std::string fitted_line() const;

  std::string label_;
  int64_t total_;
  std::ostream& out_;
  bool interactive_;
  std::string unit_;
  int64_t steps_ = 0, count_ = 0, correct_ = 0, counted_for_accuracy_ = 0;
  double loss_sum_ = 0.0;
  std::chrono::steady_clock::time_point start_, last_draw_, end_;
  bool finished_ = false;
};

}  // namespace graft::utils
