#pragma once
// A fresh empty directory for one test, removed with everything in it when the test is done.
#include <filesystem>
#include <string>

namespace graft::testing {

/// A new empty directory under the system's temporary directory (mkdtemp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// The path of `name` inside the directory.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace graft::testing
