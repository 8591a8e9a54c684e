#include "profiling.h"

#include <fmt/format.h>

namespace graft::examples {

void add_profile_flag(CLI::App& app, std::string& path) {
  app.add_option("--profile", path,
                 "record every op with graft::profiler and write a Chrome trace to this file (open it in "
                 "ui.perfetto.dev); the ops that took the most time are printed at the end");
}

RunProfile::RunProfile(const std::string& trace_path) : path_(trace_path) {
  if (!path_.empty()) profile_.emplace(profiler::ProfileOptions{.record_shapes = true, .profile_memory = true});
}

void RunProfile::finish(int rows) {
  if (!profile_ || profile_->stopped()) return;
  profile_->stop();
  profile_->export_chrome_trace(path_);
  fmt::print("\nProfile ({} events; trace: {}), by total time:\n{}", profile_->events().size(), path_,
             profile_->table("cpu_time_total", rows));
}

}  // namespace graft::examples
