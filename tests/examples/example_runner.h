#pragma once
// Helpers for the example tests: run an example program, a fresh temporary directory, and checks on the
// files the examples write.
#include <string>
#include <utility>
#include <vector>

#include "support/temp_dir.h"
#include "support/xml_check.h"

namespace graft::examples::testing {

struct RunResult {
  int status = -1;     // the exit status (or -1 when the program did not exit normally)
  std::string output;  // stdout and stderr together
};

// Runs build/examples/<program> with `args` (each shell-quoted), stdin closed.
RunResult run_example(const std::string& program, const std::vector<std::string>& args);

// The (train, validation) losses of every "train loss X, val loss Y" line of a language model's output, in order
// (tiny_gpt, char_lstm).
std::vector<std::pair<double, double>> train_val_losses(const std::string& output);

using graft::testing::read_file;
using graft::testing::TempDir;
using graft::testing::svg_error;
using graft::testing::xml_error;

}  // namespace graft::examples::testing
