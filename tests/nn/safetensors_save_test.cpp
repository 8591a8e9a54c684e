// Saving safetensors files under contention and onto unusual targets: saves racing saves in one process,
// the temporary files of killed saves, symlinks and special files at the target path.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/temp_dir.h"

using namespace graft;
using graft::testing::expect_error;
namespace fs = std::filesystem;

namespace {

class SafetensorsSave : public ::testing::Test {
 protected:
  graft::testing::TempDir temp_;
  const fs::path dir{temp_.path()};
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

nn::StateDict filled(double value) { return {{"w", full({64, 64}, value)}, {"b", full({64}, value)}}; }

TEST_F(SafetensorsSave, ConcurrentSavesToOnePathAllSucceedAndReadersSeeWholeFiles) {
  const std::string path = (dir / "m.safetensors").string();
  nn::save_safetensors(filled(0), path);
  std::atomic<int> failures{0}, bad_reads{0};
  std::atomic<bool> done{false};
  std::string first_failure;
  std::mutex mutex;
  std::vector<std::thread> savers;
  for (int w = 1; w <= 3; ++w)
    savers.emplace_back([&, w] {
      for (int i = 0; i < 30; ++i) {
        try {
          nn::save_safetensors(filled(w), path);
        } catch (const std::exception& e) {
          std::lock_guard lock(mutex);
          if (failures++ == 0) first_failure = e.what();
        }
      }
    });
  std::thread reader([&] {
    while (!done) {
      try {
        nn::StateDict got = nn::load_safetensors(path);
        const double v = got.at(0).second.to_vector<double>().at(0);
        if (!equal(got.at(0).second, full({64, 64}, v)) || !equal(got.at(1).second, full({64}, v))) ++bad_reads;
      } catch (const std::exception&) {
        ++bad_reads;
      }
    }
  });
  for (auto& t : savers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_EQ(bad_reads, 0);
  EXPECT_EQ(entries(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsSave, ASaveKilledMidWriteLeavesNoTemporaryFileBehindTheNextSave) {
  const std::string path = (dir / "m.safetensors").string();
  nn::save_safetensors(filled(1), path);
  const pid_t child = ::fork();
  if (child == 0) {
    ::kill(::getpid(), SIGSTOP);  // the parent kills it while it is stopped...
    ::_exit(0);
  }
  // ... after it left a temporary file as a save it killed mid-write would.
  std::ofstream(dir / fmt::format(".m.safetensors.tmp-{}-Ab12Cd", child)) << "partial";
  std::ofstream(dir / fmt::format("m.safetensors.tmp-{}", child)) << "partial";  // the name used before
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  nn::save_safetensors(filled(2), path);
  EXPECT_EQ(entries(), std::vector<std::string>{"m.safetensors"});
  EXPECT_TRUE(equal(nn::load_safetensors(path).at(1).second, full({64}, 2.0)));
}

TEST_F(SafetensorsSave, ASymlinkAtTheTargetIsWrittenThrough) {
  fs::create_directories(dir / "store");
  const fs::path real = dir / "store" / "weights.safetensors", link = dir / "latest.safetensors";
  nn::save_safetensors(filled(1), real.string());
  fs::create_symlink(fs::path("store") / "weights.safetensors", link);
  nn::save_safetensors(filled(2), link.string());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_TRUE(equal(nn::load_safetensors(real.string()).at(1).second, full({64}, 2.0)));
}

TEST_F(SafetensorsSave, ASpecialFileAtTheTargetIsRefusedAndKept) {
  ASSERT_EQ(::mkfifo((dir / "pipe").c_str(), 0600), 0);
  expect_error([&] { nn::save_safetensors(filled(1), (dir / "pipe").string()); },
               {"save_safetensors", "pipe", "a FIFO, not a regular file"});
  EXPECT_TRUE(fs::is_fifo(dir / "pipe"));
  fs::create_directories(dir / "d");
  expect_error([&] { nn::save_safetensors(filled(1), (dir / "d").string()); }, {"a directory"});
  EXPECT_EQ(entries(), (std::vector<std::string>{"d", "pipe"}));
}

TEST_F(SafetensorsSave, RenderDotRefusesADirectoryAndWritesThroughASymlink) {
  Tensor x = ones({2}, requires_grad());
  const std::string dot = to_dot({(x * 2).sum()});
  fs::create_directories(dir / "g.svg");
  expect_error([&] { render_dot(dot, (dir / "g.svg").string()); }, {"render_dot", "a directory, not a regular file"});
  fs::create_symlink("real.svg", dir / "link.svg");
  render_dot(dot, (dir / "link.svg").string());
  EXPECT_TRUE(fs::is_symlink(dir / "link.svg"));
  EXPECT_GT(fs::file_size(dir / "real.svg"), 0u);
}

}  // namespace
