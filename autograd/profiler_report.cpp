// What a stopped profile reports: events summed per name (key_averages), PyTorch's text table, and the
// Chrome trace. The table's layout and number formats are those of torch.autograd.profiler_util (1.13), so
// that the two read alike side by side.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "graft/autograd/chrome_trace.h"
#include "graft/autograd/profiler.h"
#include "graft/graph/atomic_file.h"
#include "graft/graph/error.h"

namespace graft::autograd::profiler {

namespace {

std::string format_time(double us) {
  if (us >= 1e6) return fmt::format("{:.3f}s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.3f}ms", us / 1e3);
  return fmt::format("{:.3f}us", us);
}

std::string format_share(double us, double total_us) {
  return total_us == 0 ? std::string("NaN") : fmt::format("{:.2f}%", us * 100.0 / total_us);
}

std::string format_memory(int64_t bytes) {
  constexpr double kb = 1024, mb = 1024 * kb, gb = 1024 * mb;
  const double b = static_cast<double>(bytes), a = std::abs(b);
  if (a >= gb) return fmt::format("{:.2f} Gb", b / gb);
  if (a >= mb) return fmt::format("{:.2f} Mb", b / mb);
  if (a >= kb) return fmt::format("{:.2f} Kb", b / kb);
  return fmt::format("{} b", bytes);
}

// Python's str() of a list of shapes: "[[2, 3], []]".
std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string out = "[";
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i) out += ", ";
    out += "[";
    for (size_t d = 0; d < shapes[i].size(); ++d) out += (d ? ", " : "") + std::to_string(shapes[i][d]);
    out += "]";
  }
  return out + "]";
}

double sort_value(const FunctionEventAvg& r, const std::string& key) {
  if (key == "cpu_time_total") return r.cpu_time_total_us;
  if (key == "self_cpu_time_total") return r.self_cpu_time_total_us;
  if (key == "cpu_time") return r.cpu_time_us();
  if (key == "count") return static_cast<double>(r.count);
  if (key == "cpu_memory_usage") return static_cast<double>(r.cpu_memory_usage);
  return static_cast<double>(r.self_cpu_memory_usage);
}

}  // namespace

KeyAverages::KeyAverages(std::vector<FunctionEventAvg> rows, bool with_memory, bool with_shapes)
    : rows_(std::move(rows)), with_memory_(with_memory), with_shapes_(with_shapes) {}

const FunctionEventAvg* KeyAverages::find(const std::string& key) const {
  for (const FunctionEventAvg& r : rows_)
    if (r.key == key) return &r;
  return nullptr;
}

std::string KeyAverages::table(const std::string& sort_by, int row_limit) const {
  static const char* const keys[] = {"cpu_time_total",   "self_cpu_time_total", "cpu_time",
                                     "count",            "cpu_memory_usage",    "self_cpu_memory_usage"};
  GRAFT_CHECK(sort_by.empty() || std::find(std::begin(keys), std::end(keys), sort_by) != std::end(keys),
              "KeyAverages.table: sort_by must be empty or one of cpu_time_total, self_cpu_time_total, cpu_time, "
              "count, cpu_memory_usage, self_cpu_memory_usage; got '{}'",
              sort_by);
  std::vector<const FunctionEventAvg*> rows;
  for (const FunctionEventAvg& r : rows_) rows.push_back(&r);
  if (!sort_by.empty())
    std::stable_sort(rows.begin(), rows.end(), [&](const FunctionEventAvg* a, const FunctionEventAvg* b) {
      return sort_value(*a, sort_by) > sort_value(*b, sort_by);
    });
  if (row_limit >= 0 && rows.size() > static_cast<size_t>(row_limit)) rows.resize(static_cast<size_t>(row_limit));

  double self_total = 0;
  for (const FunctionEventAvg& r : rows_) self_total += r.self_cpu_time_total_us;

  constexpr size_t kColumn = 12, kSpacing = 2, kMaxName = 55, kMaxShapes = 80;
  size_t name_width = 0, shapes_width = 0;
  for (const FunctionEventAvg* r : rows) {
    name_width = std::max(name_width, r->key.size() + 4);
    shapes_width = std::max(shapes_width, shapes_text(r->input_shapes).size() + 4);
  }
  name_width = std::min(std::max<size_t>(name_width, 8), kMaxName);
  shapes_width = std::min(std::max<size_t>(shapes_width, 16), kMaxShapes);

  std::vector<std::string> headers = {"Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"};
  if (with_memory_) headers.insert(headers.end(), {"CPU Mem", "Self CPU Mem"});
  headers.push_back("# of Calls");
  if (with_shapes_) headers.push_back("Input Shapes");
  std::vector<size_t> widths(headers.size(), kColumn);
  widths[0] = name_width;
  if (with_shapes_) widths.back() = shapes_width;

  std::string separator;
  for (size_t w : widths) separator += std::string(w, '-') + std::string(kSpacing, ' ');
  separator += "\n";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) out += fmt::format("{:>{}}", cells[i], widths[i]) + std::string(kSpacing, ' ');
    return out + "\n";
  };

  std::string out = separator + line(headers) + separator;
  for (const FunctionEventAvg* r : rows) {
    std::string name = r->key;
    if (name.size() >= name_width - 3) name = name.substr(0, name_width - 3) + "...";
    std::vector<std::string> cells = {name,
                                      format_share(r->self_cpu_time_total_us, self_total),
                                      format_time(r->self_cpu_time_total_us),
                                      format_share(r->cpu_time_total_us, self_total),
                                      format_time(r->cpu_time_total_us),
                                      format_time(r->cpu_time_us())};
    if (with_memory_) cells.insert(cells.end(), {format_memory(r->cpu_memory_usage), format_memory(r->self_cpu_memory_usage)});
    cells.push_back(std::to_string(r->count));
    if (with_shapes_) {
      std::string shapes = shapes_text(r->input_shapes);
      if (shapes.size() >= shapes_width - 3) shapes = shapes.substr(0, shapes_width - 3) + "...";
      cells.push_back(shapes);
    }
    out += line(cells);
  }
  return out + separator + "Self CPU time total: " + format_time(self_total) + "\n";
}

KeyAverages profile::key_averages(bool group_by_input_shape) const {
  check_stopped("key_averages");
  GRAFT_CHECK(!group_by_input_shape || options_.record_shapes,
              "profile.key_averages: group_by_input_shape needs a profile made with record_shapes = true");
  std::vector<FunctionEventAvg> rows;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const FunctionEvent& e : events_) {
    const std::string shapes = group_by_input_shape ? shapes_text(e.input_shapes) : std::string();
    auto [it, fresh] = index.try_emplace({e.name, shapes}, rows.size());
    if (fresh) {
      rows.emplace_back();
      rows.back().key = e.name;
      if (group_by_input_shape) rows.back().input_shapes = e.input_shapes;
    }
    FunctionEventAvg& r = rows[it->second];
    r.count += 1;
    r.cpu_time_total_us += e.cpu_time_total_us;
    r.self_cpu_time_total_us += e.self_cpu_time_total_us;
    r.cpu_memory_usage += e.cpu_memory_usage;
    r.self_cpu_memory_usage += e.self_cpu_memory_usage;
  }
  return KeyAverages(std::move(rows), options_.profile_memory, group_by_input_shape);
}

std::string profile::table(const std::string& sort_by, int row_limit) const {
  return key_averages().table(sort_by, row_limit);
}

std::string profile::chrome_trace(int pid, const std::string& process_name, double offset_us) const {
  check_stopped("chrome_trace");
  ChromeTrace trace(pid, process_name);
  for (const auto& [number, name] : threads_) trace.name_thread(number, name);
  for (const FunctionEvent& e : events_) {
    std::vector<std::pair<std::string, int64_t>> figures;
    if (e.cpu_memory_usage != 0) figures.emplace_back("Memory (bytes)", e.cpu_memory_usage);
    figures.insert(figures.end(), e.args.begin(), e.args.end());
    trace.add_event(e.name, kind_name(e.kind), e.thread, e.start_us + offset_us, e.cpu_time_total_us, figures,
                    e.input_shapes);
  }
  return trace.dump();
}

void profile::export_chrome_trace(const std::string& path) const {
  check_stopped("export_chrome_trace");
  const std::string text = chrome_trace(static_cast<int>(::getpid()), "graft");
  AtomicFileWriter out(path, "profile.export_chrome_trace");
  out.write(text);
  out.commit();
}

}  // namespace graft::autograd::profiler
