#pragma once
// The Chrome trace format (the JSON that https://ui.perfetto.dev and chrome://tracing open), written by the
// profiler (profile::chrome_trace) and by ZeRO's step-time model (zero::predicted_chrome_trace), so that
// measured and predicted steps open side by side with the same tracks and event fields.
//
//   graft::autograd::profiler::ChromeTrace trace(/*pid=*/0, "predicted step");
//   trace.name_thread(1, "compute");
//   trace.add_event("forward", "compute", /*tid=*/1, /*start_us=*/0, /*duration_us=*/1500);
//   std::string json = trace.dump();   // {"traceEvents": [...], "displayTimeUnit": "ms"}
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph/shape.h"

namespace graft::autograd::profiler {

/// A Chrome trace under construction: the events of one process, on tracks numbered by thread id.
class ChromeTrace {
 public:
  /// An empty trace whose events belong to process `pid`, shown under the name `process_name`.
  ChromeTrace(int pid, const std::string& process_name);
  ~ChromeTrace();
  ChromeTrace(ChromeTrace&&) noexcept;
  ChromeTrace& operator=(ChromeTrace&&) noexcept;

  /// Shows track `tid` as `name`, sorted by its id.
  void name_thread(int64_t tid, const std::string& name);

  /// Adds a complete ("X") event: `name` in category `category` on track `tid`, starting at `start_us` and
  /// lasting `duration_us` microseconds. `figures` become the event's args (e.g. {"bytes", 4096});
  /// `input_dims`, when not empty, its "Input Dims" arg (as PyTorch's profiler writes them).
  void add_event(const std::string& name, const std::string& category, int64_t tid, double start_us, double duration_us,
                 const std::vector<std::pair<std::string, int64_t>>& figures = {},
                 const std::vector<Shape>& input_dims = {});

  /// The trace as JSON text, {"traceEvents": [...], "displayTimeUnit": "ms"}, ending with a newline.
  std::string dump() const;

 private:
  struct Events;
  int pid_;
  std::unique_ptr<Events> events_;
};

}  // namespace graft::autograd::profiler
