// Every file graft writes goes through AtomicFileWriter (graph/atomic_file.h): readers see the old content or
// the new, never a part; concurrent writers never share a temporary file; a dead writer's temporary file is
// cleaned up by the next write; a symlink is written through and a special file is refused.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "graft/graft.h"
#include "graft/graph/atomic_file.h"
#include "support/errors.h"
#include "support/temp_dir.h"

using namespace graft;
using graft::testing::expect_error;
namespace fs = std::filesystem;

namespace {

class AtomicFile : public ::testing::Test {
 protected:
  graft::testing::TempDir temp_;
  const fs::path dir_{temp_.path()};
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  // The id of a process that existed and has exited.
  static pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
  }

};

TEST_F(AtomicFile, ReplacesTheContentOnlyOnCommit) {
  const std::string p = path("a.txt");
  write_file_atomically(p, "old", "test");
  {
    AtomicFileWriter out(p, "test");
    out.write("new content");
    EXPECT_EQ(read(p), "old");
    out.commit();
  }
  EXPECT_EQ(read(p), "new content");
  {
    AtomicFileWriter abandoned(p, "test");
    abandoned.write("never committed");
  }
  EXPECT_EQ(read(p), "new content");
  EXPECT_EQ(entries(), std::vector<std::string>{"a.txt"});  // no temporary file is left behind
}

TEST_F(AtomicFile, ConcurrentWritersToOnePathNeverShareATemporaryFile) {
  const std::string p = path("shared.bin");
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      const std::string content(100000, static_cast<char>('a' + w));
      for (int i = 0; i < 20; ++i) {
        try {
          write_file_atomically(p, content, "test");
        } catch (const Error&) {
          ++failures;
        }
      }
    });
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done) {
      const std::string got = read(p);
      if (got.empty()) continue;
      if (got.size() != 100000 || got.find_first_not_of(got[0]) != std::string::npos) ++torn;
    }
  });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(entries(), std::vector<std::string>{"shared.bin"});
}

TEST_F(AtomicFile, TheTemporaryFileOfADeadWriterIsRemovedByTheNextWrite) {
  const std::string p = path("model.safetensors");
  // A writer killed mid-save leaves its temporary file; a process that exits without committing does the same.
  const pid_t child = ::fork();
  if (child == 0) {
    AtomicFileWriter out(p, "test");
    out.write("half of a model");
    ::_exit(0);  // no destructor runs, as under kill -9
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(entries().size(), 1u);
  EXPECT_EQ(entries()[0].rfind(fmt::format(".model.safetensors.tmp-{}-", child), 0), 0u) << entries()[0];
  // The name graft's writer used before, and a temporary file of a writer that is still alive (this process).
  std::ofstream(path(fmt::format("model.safetensors.tmp-{}", dead_pid()))) << "x";
  const std::string live = path(fmt::format(".model.safetensors.tmp-{}-abcdef", ::getpid()));
  std::ofstream(live) << "x";
  write_file_atomically(p, "whole", "test");
  EXPECT_EQ(read(p), "whole");
  EXPECT_EQ(entries(), (std::vector<std::string>{fs::path(live).filename().string(), "model.safetensors"}));
}

TEST_F(AtomicFile, ASymlinkIsWrittenThrough) {
  const std::string real = path("real.txt"), link = path("link.txt");
  write_file_atomically(real, "old", "test");
  fs::create_symlink("real.txt", link);
  write_file_atomically(link, "new", "test");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read(real), "new");
  // A dangling link creates the file it points to.
  const std::string dangling = path("dangling.txt");
  fs::create_symlink("created.txt", dangling);
  write_file_atomically(dangling, "made", "test");
  EXPECT_TRUE(fs::is_symlink(dangling));
  EXPECT_EQ(read(path("created.txt")), "made");
}

TEST_F(AtomicFile, ADirectoryOrSpecialFileIsRefused) {
  fs::create_directory(path("subdir"));
  expect_error([&] { write_file_atomically(path("subdir"), "x", "save_safetensors"); },
               {"save_safetensors", "subdir", "a directory, not a regular file"});
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  expect_error([&] { write_file_atomically(path("fifo"), "x", "test"); }, {"a FIFO"});
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  fs::create_symlink("/dev/null", path("null"));
  expect_error([&] { write_file_atomically(path("null"), "x", "test"); }, {"/dev/null", "a character device"});
  EXPECT_TRUE(fs::is_symlink(path("null")));
  EXPECT_EQ(entries(), (std::vector<std::string>{"fifo", "null", "subdir"}));
}

TEST_F(AtomicFile, AMissingDirectoryIsAnErrorNamingThePath) {
  expect_error([&] { write_file_atomically(path("no/such/dir/file"), "x", "test"); },
               {"test: cannot create a temporary file next to", "no/such/dir/file", "No such file or directory"});
}

TEST_F(AtomicFile, AReplacedFileKeepsItsPermissions) {
  const std::string p = path("private.txt");
  write_file_atomically(p, "a", "test");
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  write_file_atomically(p, "b", "test");
  EXPECT_EQ(fs::status(p).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

}  // namespace
