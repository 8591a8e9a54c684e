#include "graft/utils/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "graft/graph/atomic_file.h"
#include "graft/graph/error.h"

namespace graft::utils {

namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A tick label without trailing zeros: 0.5, 2, 1e-05, 1200.
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) return "0";
  if (std::abs(v) >= 1e5 || std::abs(v) < 1e-3) return fmt::format("{:.3g}", v);
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // An empty or single-valued range becomes a small interval around it.
  void settle() {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
      const double pad = std::max(std::abs(lo) * 0.05, 0.5);
      lo -= pad;
      hi += pad;
    }
  }
};

void draw_panel(std::string& svg, const Panel& panel, double ox, double oy, double w, double h) {
  const double left = ox + 64, right = ox + w - 16, top = oy + 36, bottom = oy + h - 48;
  Range xr, yr;
  for (const Series& s : panel.series) {
    GRAFT_CHECK(s.x.size() == s.y.size(), "curves_svg: series '{}' has {} x values and {} y values", s.name,
                s.x.size(), s.y.size());
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) xr.add(s.x[i]), yr.add(s.y[i]);
  }
  xr.settle();
  yr.settle();
  // The x axis spans the data; the y axis the data plus a margin, so lines do not run along the frame.
  const double x0 = xr.lo, x1 = xr.hi;
  const double margin = 0.05 * (yr.hi - yr.lo), y0 = yr.lo - margin, y1 = yr.hi + margin;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };

  const std::vector<double> xt = nice_ticks(x0, x1), yt = nice_ticks(y0, y1);
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)" "\n",
                     (left + right) / 2, oy + 22, escape_xml(panel.title));
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double t : xt) {
    if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
    svg += fmt::format(R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#e5e5e5"/>)"
                       R"(<text x="{0:.1f}" y="{3:.1f}" text-anchor="middle" font-size="11">{4}</text>)" "\n",
                       px(t), top, bottom, bottom + 16, tick_label(t, xstep));
  }
  for (double t : yt) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    svg += fmt::format(R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{2:.1f}" y2="{1:.1f}" stroke="#e5e5e5"/>)"
                       R"(<text x="{3:.1f}" y="{4:.1f}" text-anchor="end" font-size="11">{5}</text>)" "\n",
                       left, py(t), right, left - 6, py(t) + 4, tick_label(t, ystep));
  }
  svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#333"/>)" "\n",
                     left, top, right - left, bottom - top);
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="12">{}</text>)" "\n",
                     (left + right) / 2, bottom + 36, escape_xml(panel.x_label));
  svg += fmt::format(R"svg(<text transform="translate({:.1f},{:.1f}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>)svg" "\n",
                     ox + 16, (top + bottom) / 2, escape_xml(panel.y_label));

  for (size_t k = 0; k < panel.series.size(); ++k) {
    const Series& s = panel.series[k];
    const char* color = kColors[k % std::size(kColors)];
    std::string points;
    int n = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(s.x[i]), py(s.y[i]));
      ++n;
    }
    if (n > 1)
      svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{}/>)" "\n", points, color,
                         k % 2 ? R"( stroke-dasharray="7 4")" : "");
    if (n < 40)  // markers on short series, where single points matter
      for (size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.y[i]) && std::isfinite(s.x[i]))
          svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)" "\n", px(s.x[i]), py(s.y[i]), color);
  }
  // Legend on a white box, in the corner of the frame that hides the fewest data points.
  size_t longest = 0;
  for (const Series& s : panel.series) longest = std::max(longest, s.name.size());
  const double box_w = 40 + 6.5 * static_cast<double>(longest), box_h = 8 + 16 * static_cast<double>(panel.series.size());
  double box_x = right - 4 - box_w, box_y = top + 4;
  size_t fewest = SIZE_MAX;
  for (const auto& [cx, cy] : {std::pair{right - 4 - box_w, top + 4}, std::pair{right - 4 - box_w, bottom - 4 - box_h},
                               std::pair{left + 4, top + 4}, std::pair{left + 4, bottom - 4 - box_h}}) {
    size_t hidden = 0;
    for (const Series& s : panel.series)
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
        const double x = px(s.x[i]), y = py(s.y[i]);
        hidden += x >= cx - 4 && x <= cx + box_w + 4 && y >= cy - 4 && y <= cy + box_h + 4;
      }
    if (hidden < fewest) fewest = hidden, box_x = cx, box_y = cy;
  }
  svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="white" fill-opacity="0.85" stroke="#ccc"/>)" "\n",
                     box_x, box_y, box_w, box_h);
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const char* color = kColors[k % std::size(kColors)];
    const double ly = box_y + 10 + 16 * static_cast<double>(k), lx = box_x + box_w;
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="3"{}/>)"
                       R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end" font-size="11">{}</text>)" "\n",
                       lx - 26, ly, lx - 6, ly, color, k % 2 ? R"( stroke-dasharray="5 3")" : "", lx - 30, ly + 4,
                       escape_xml(panel.series[k].name));
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  GRAFT_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "nice_ticks: bad range [{}, {}]", lo, hi);
  GRAFT_CHECK(target >= 1, "nice_ticks: target must be positive, got {}", target);
  if (hi - lo < 1e-300) hi = lo + 1;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw * 0.999) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double t = first; t < hi + step * 0.999; t += step) ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string curves_svg(const std::vector<Panel>& panels, int panel_width, int panel_height) {
  GRAFT_CHECK(!panels.empty(), "curves_svg: no panels to draw");
  const int width = panel_width * static_cast<int>(panels.size());
  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif">)"
      "\n" R"(<rect width="100%" height="100%" fill="white"/>)" "\n",
      width, panel_height);
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(svg, panels[i], static_cast<double>(panel_width) * static_cast<double>(i), 0, panel_width, panel_height);
  svg += "</svg>\n";
  return svg;
}

void write_text_file(const std::string& text, const std::string& path) { write_file_atomically(path, text, "write_text_file"); }

}  // namespace graft::utils
