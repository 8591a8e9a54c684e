#pragma once
// Helpers for the example tests: run an example program, a fresh temporary directory, and checks on the
// files the examples write.
#include <string>
#include <vector>

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

std::string read_file(const std::string& path);
// Empty when `text` is well-formed XML (one root element, balanced and properly nested tags, quoted
// attributes, known entities); otherwise what is wrong.
std::string xml_error(const std::string& text);
// Empty when `path` is an SVG file that parses as XML with an <svg> root; otherwise what is wrong.
std::string svg_error(const std::string& path);

}  // namespace graft::examples::testing
