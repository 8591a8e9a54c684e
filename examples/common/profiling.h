#pragma once
// --profile FILE, shared by the examples: the training run is recorded by graft::profiler; finish() writes the
// Chrome trace to FILE (open it in https://ui.perfetto.dev) and prints the ops that took the most time.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "graft/autograd/profiler.h"

namespace graft::examples {

// Adds --profile FILE to `app`, storing the path in `path`.
void add_profile_flag(CLI::App& app, std::string& path);

// Records from construction to finish() when `trace_path` is not empty; does nothing otherwise.
class RunProfile {
 public:
  explicit RunProfile(const std::string& trace_path);
  // Stops recording, writes the trace and prints the `rows` ops with the most total time. Once only.
  void finish(int rows = 15);

 private:
  std::string path_;
  std::optional<profiler::profile> profile_;
};

}  // namespace graft::examples
