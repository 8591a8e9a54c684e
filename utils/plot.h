#pragma once
// Line charts as self-contained SVG (no fonts or scripts to fetch): a row of panels, each with axes, "nice"
// ticks (1, 2, 5 x 10^k), axis labels, a title and a legend. Enough for training curves:
//
//   Panel loss{"training loss", "epoch", "loss", {{"train", epochs, losses}}};
//   Panel acc{"accuracy", "epoch", "%", {{"train", epochs, train_acc}, {"test", epochs, test_acc}}};
//   write_svg(curves_svg({loss, acc}), "out/curves.svg");
#include <string>
#include <vector>

namespace graft::utils {

struct Series {
  std::string name;
  std::vector<double> x, y;  // equal lengths; non-finite y values are skipped
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

/// Tick positions covering [lo, hi] with about `target` intervals, at multiples of 1, 2 or 5 x 10^k.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

/// The panels side by side, each panel_width x panel_height pixels. Series take colours in order.
std::string curves_svg(const std::vector<Panel>& panels, int panel_width = 480, int panel_height = 340);

/// Writes `text` to `path` through a temporary file renamed into place; graft::Error on failure.
void write_text_file(const std::string& text, const std::string& path);

}  // namespace graft::utils
