#include "graft/autograd/chrome_trace.h"

#include <nlohmann/json.hpp>

namespace graft::autograd::profiler {

struct ChromeTrace::Events {
  nlohmann::json list = nlohmann::json::array();
};

ChromeTrace::ChromeTrace(int pid, const std::string& process_name) : pid_(pid), events_(std::make_unique<Events>()) {
  events_->list.push_back(
      {{"name", "process_name"}, {"ph", "M"}, {"pid", pid_}, {"tid", 0}, {"args", {{"name", process_name}}}});
}

ChromeTrace::~ChromeTrace() = default;
ChromeTrace::ChromeTrace(ChromeTrace&&) noexcept = default;
ChromeTrace& ChromeTrace::operator=(ChromeTrace&&) noexcept = default;

void ChromeTrace::name_thread(int64_t tid, const std::string& name) {
  events_->list.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid_}, {"tid", tid}, {"args", {{"name", name}}}});
  events_->list.push_back(
      {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", pid_}, {"tid", tid}, {"args", {{"sort_index", tid}}}});
}

void ChromeTrace::add_event(const std::string& name, const std::string& category, int64_t tid, double start_us,
                            double duration_us, const std::vector<std::pair<std::string, int64_t>>& figures,
                            const std::vector<Shape>& input_dims) {
  nlohmann::json args = nlohmann::json::object();
  if (!input_dims.empty()) {
    nlohmann::json dims = nlohmann::json::array();
    for (const Shape& s : input_dims) dims.push_back(std::vector<int64_t>(s.begin(), s.end()));
    args["Input Dims"] = std::move(dims);
  }
  for (const auto& [key, value] : figures) args[key] = value;
  events_->list.push_back({{"name", name},
                           {"cat", category},
                           {"ph", "X"},
                           {"ts", start_us},
                           {"dur", duration_us},
                           {"pid", pid_},
                           {"tid", tid},
                           {"args", std::move(args)}});
}

std::string ChromeTrace::dump() const {
  return nlohmann::json{{"traceEvents", events_->list}, {"displayTimeUnit", "ms"}}.dump() + "\n";
}

}  // namespace graft::autograd::profiler
