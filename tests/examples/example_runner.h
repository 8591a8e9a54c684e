#pragma once
// Helpers for the example tests: run an example program, a fresh temporary directory, and checks on the
// files the examples write.
#include <string>
#include <vector>

#include "support/xml_check.h"

namespace graft::examples::testing {

struct RunResult {
  int status = -1;     // the exit status (or -1 when the program did not exit normally)
  std::string output;  // stdout and stderr together
};

// Runs build/examples/<program> with `args` (each shell-quoted), stdin closed.
RunResult run_example(const std::string& program, const std::vector<std::string>& args);

// A new empty directory under the system's temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

using graft::testing::read_file;
using graft::testing::svg_error;
using graft::testing::xml_error;

}  // namespace graft::examples::testing
