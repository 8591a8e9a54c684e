// The architecture as a specification: which package may include which, what stays private to a package,
// what the public API (graft.h) may pull in, and that every include resolves in the checkout itself.
//
//   graph <- autograd <- ops <- nn, data <- optim (uses nn) <- utils <- graft.h <- examples, bench
//
// A package is a top-level directory. Headers under a `detail/` or `kernels/` directory are internal to
// their package: only files of that package (and that package's own tests, tests/<package>/) include them.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = GRAFT_SOURCE_DIR;

// What each package may include, besides itself.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"graph", {}},
    {"autograd", {"graph"}},
    {"ops", {"graph", "autograd"}},
    {"nn", {"graph", "autograd", "ops"}},
    {"data", {"graph", "autograd", "ops"}},
    {"optim", {"graph", "autograd", "ops", "nn"}},
    {"utils", {"graph", "autograd", "ops", "nn", "data", "optim"}},
    {"graft.h", {"graph", "autograd", "ops", "nn", "data", "optim", "utils"}},
    {"examples", {"graph", "autograd", "ops", "nn", "data", "optim", "utils", "graft.h"}},
    {"bench", {"graph", "autograd", "ops", "nn", "data", "optim", "utils", "graft.h"}},
};

// System headers of graft's private dependencies: no public header may include them (the installed package
// exports only fmt and OpenMP's flags, and OpenMP's header belongs to the kernels).
const std::vector<std::string> kPrivateSystemHeaders = {"omp.h", "oneapi/dnnl", "dnnl", "nlohmann/", "graphviz/",
                                                        "gvc.h", "zlib.h", "mpi.h"};

struct Include {
  std::string path;  // as written, e.g. "graft/ops/shape.h" or "omp.h"
  bool quoted;
  int line;
};

struct SourceFile {
  std::string rel;  // relative to the root, e.g. "ops/shape.cpp"
  std::vector<Include> includes;
};

std::string package_of(const std::string& rel) {
  const size_t slash = rel.find('/');
  return slash == std::string::npos ? rel : rel.substr(0, slash);
}

bool is_internal(const std::string& rel) {
  return rel.find("/detail/") != std::string::npos || rel.find("/kernels/") != std::string::npos;
}

std::vector<Include> read_includes(const fs::path& file) {
  static const std::regex pattern(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
  std::vector<Include> out;
  std::ifstream in(file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_search(line, m, pattern)) out.push_back({m[2].str(), m[1].str() == "\"", n});
  }
  return out;
}

// Every C++ source and header of the checkout (not build trees, not the include/ link).
const std::vector<SourceFile>& sources() {
  static const std::vector<SourceFile> files = [] {
    std::vector<SourceFile> out;
    for (auto it = fs::recursive_directory_iterator(kRoot); it != fs::recursive_directory_iterator(); ++it) {
      const std::string rel = fs::relative(it->path(), kRoot).string();
      if (it->is_directory() &&
          (rel.rfind("build", 0) == 0 || rel == "include" || rel.rfind(".", 0) == 0 || it->is_symlink())) {
        it.disable_recursion_pending();
        continue;
      }
      const std::string ext = it->path().extension().string();
      if (it->is_regular_file() && (ext == ".h" || ext == ".cpp")) out.push_back({rel, read_includes(it->path())});
    }
    std::sort(out.begin(), out.end(), [](const SourceFile& a, const SourceFile& b) { return a.rel < b.rel; });
    return out;
  }();
  return files;
}

// "graft/ops/shape.h" -> "ops/shape.h"; empty for includes of other projects.
std::string graft_path(const Include& inc) {
  return inc.quoted && inc.path.rfind("graft/", 0) == 0 ? inc.path.substr(6) : std::string();
}

const SourceFile* find_source(const std::string& rel) {
  for (const SourceFile& f : sources())
    if (f.rel == rel) return &f;
  return nullptr;
}

TEST(Layering, TheSourceTreeIsFound) { EXPECT_GT(sources().size(), 200u); }

// An editor opened on a fresh clone, told -Iinclude, resolves every graft include without a build.
TEST(Layering, EveryGraftIncludeResolvesInTheCheckout) {
  ASSERT_TRUE(fs::exists(kRoot / "include" / "graft" / "graft.h")) << "include/graft must link to the source root";
  for (const SourceFile& f : sources())
    for (const Include& inc : f.includes) {
      const std::string target = graft_path(inc);
      if (!target.empty()) {
        EXPECT_TRUE(fs::exists(kRoot / "include" / inc.path)) << f.rel << ":" << inc.line << " includes " << inc.path
                                                              << ", which does not exist";
      }
    }
}

TEST(Layering, NoPackageIncludesOneAboveIt) {
  for (const SourceFile& f : sources()) {
    const std::string from = package_of(f.rel);
    auto allowed = kAllowed.find(from);
    if (allowed == kAllowed.end()) continue;  // tests, scripts: anything
    for (const Include& inc : f.includes) {
      const std::string target = graft_path(inc);
      if (target.empty()) continue;
      const std::string to = package_of(target);
      EXPECT_TRUE(to == from || allowed->second.count(to))
          << f.rel << ":" << inc.line << " includes " << inc.path << ": " << from << " must not depend on " << to;
    }
  }
}

TEST(Layering, InternalHeadersStayInsideTheirPackage) {
  for (const SourceFile& f : sources()) {
    std::string from = package_of(f.rel);
    if (from == "tests") {  // a package's own tests may look inside it (tests/ops -> ops/kernels)
      const std::string rest = f.rel.substr(6);
      from = package_of(rest);
    }
    for (const Include& inc : f.includes) {
      const std::string target = graft_path(inc);
      if (target.empty() || !is_internal(target)) continue;
      EXPECT_EQ(package_of(target), from) << f.rel << ":" << inc.line << " includes " << inc.path
                                          << ", which is internal to " << package_of(target) << "/";
    }
  }
}

// The headers graft.h reaches, transitively: the public API. None of them may pull in an internal header or
// a private dependency's header.
std::set<std::string> public_headers() {
  std::set<std::string> seen;
  std::vector<std::string> todo = {"graft.h"};
  while (!todo.empty()) {
    std::string rel = todo.back();
    todo.pop_back();
    if (!seen.insert(rel).second) continue;
    const SourceFile* f = find_source(rel);
    if (!f) continue;
    for (const Include& inc : f->includes) {
      const std::string target = graft_path(inc);
      if (!target.empty()) todo.push_back(target);
    }
  }
  return seen;
}

TEST(Layering, PublicHeadersPullInNothingInternal) {
  const std::set<std::string> headers = public_headers();
  EXPECT_GT(headers.size(), 60u);
  for (const std::string& rel : headers) {
    EXPECT_FALSE(is_internal(rel)) << rel << " is reached from graft.h but is internal";
    const SourceFile* f = find_source(rel);
    ASSERT_NE(f, nullptr) << rel;
    for (const Include& inc : f->includes) {
      if (!graft_path(inc).empty()) continue;
      for (const std::string& priv : kPrivateSystemHeaders)
        EXPECT_NE(inc.path.rfind(priv, 0), 0u)
            << rel << ":" << inc.line << " is public (reached from graft.h) but includes <" << inc.path
            << ">, a private dependency of the library";
    }
  }
}

// The directory tables of README.md and DEVELOPERS.md name every top-level directory of the checkout.
TEST(Layering, TheDirectoryTablesMatchTheTree) {
  std::set<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(kRoot)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name[0] != '.' && name.rfind("build", 0) != 0) dirs.insert(name);
  }
  EXPECT_TRUE(dirs.count("graph") && dirs.count("tests"));
  for (const char* doc : {"README.md", "DEVELOPERS.md"}) {
    std::ifstream in(kRoot / doc);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    for (const std::string& d : dirs)
      EXPECT_NE(text.find("`" + d + "/`"), std::string::npos) << doc << "'s directory table does not list " << d << "/";
  }
}

}  // namespace
