#include "graft/utils/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

namespace graft::utils {

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) == 1; }

int terminal_columns() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int n = std::atoi(columns);
    if (n > 0) return n;
  }
  return 80;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, std::ostream& out, std::optional<bool> interactive,
                         std::string unit)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total_steps, 1)),
      out_(out),
      interactive_(interactive.value_or(&out == &std::cout && stdout_is_terminal())),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (interactive_) draw();
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps) : ProgressBar(std::move(label), total_steps, std::cout) {}

void ProgressBar::update(int64_t count, double loss, std::optional<int64_t> correct) {
  ++steps_;
  count_ += count;
  loss_sum_ += loss;
  if (correct) {
    correct_ += *correct;
    counted_for_accuracy_ += count;
  }
  const auto now = std::chrono::steady_clock::now();
  if (steps_ == total_) end_ = now;
  if (!interactive_) return;
  if (steps_ == total_ || now - last_draw_ >= std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw();
  }
}

std::optional<double> ProgressBar::accuracy() const {
  if (counted_for_accuracy_ == 0) return std::nullopt;
  return static_cast<double>(correct_) / static_cast<double>(counted_for_accuracy_);
}

double ProgressBar::elapsed_seconds() const {
  const auto end = steps_ >= total_ ? end_ : std::chrono::steady_clock::now();
  return std::chrono::duration<double>(end - start_).count();
}

double ProgressBar::throughput() const {
  const double t = elapsed_seconds();
  return t > 0 ? static_cast<double>(count_) / t : 0.0;
}

std::string ProgressBar::line(int bar_width) const {
  std::string s = label_;
  const int64_t done = std::min(steps_, total_);
  if (bar_width > 0) {
    const auto filled = static_cast<size_t>(bar_width * done / total_);
    s += fmt::format(" [{}{}]", std::string(filled, '#'), std::string(static_cast<size_t>(bar_width) - filled, '.'));
  }
  s += fmt::format(" {}/{}", done, total_);
  if (steps_ > 0) s += fmt::format("  loss {:.4f}", mean_loss());
  if (auto acc = accuracy()) s += fmt::format("  acc {:.2f}%", 100 * *acc);
  const double elapsed = elapsed_seconds();
  s += fmt::format("  {:.0f} {}/s", throughput(), unit_);
  if (finished_ || done >= total_) {
    s += fmt::format("  {:.1f} s", elapsed);
  } else {
    const double eta = steps_ > 0 ? elapsed / static_cast<double>(steps_) * static_cast<double>(total_ - steps_) : NAN;
    s += "  ETA " + format_duration(eta);
  }
  return s;
}

namespace {
constexpr int kBarWidth = 24;
}

// A line that fits the terminal (a wrapped line could not be redrawn in place): the bar narrows first,
// then the text is cut.
std::string ProgressBar::fitted_line() const {
  const auto columns = static_cast<size_t>(std::max(terminal_columns() - 1, 10));
  std::string text = line(0);
  const size_t room = columns > text.size() + 3 ? columns - text.size() - 3 : 0;
  if (room >= 5) text = line(static_cast<int>(std::min<size_t>(room, kBarWidth)));
  if (text.size() > columns) text.resize(columns);
  return text;
}

void ProgressBar::draw() {
  // Clear to the end of the line so a shorter line leaves no remains of a longer one.
  out_ << '\r' << fitted_line() << "\x1b[K" << std::flush;
}

void ProgressBar::finish(const std::string& summary) {
  if (finished_) return;
  finished_ = true;
  const std::string tail = summary.empty() ? "" : "  " + summary;
  // The final line may wrap: it is not redrawn.
  if (interactive_) out_ << '\r' << line(kBarWidth) << tail << "\x1b[K\n";
  else out_ << line(0) << tail << '\n';
  out_ << std::flush;
}

}  // namespace graft::utils
