#include "graft/graph/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "graft/graph/error.h"

namespace graft {

namespace {

namespace fs = std::filesystem;

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The file a write to `path` replaces: `path` itself, or where its chain of symlinks ends (which may not
// exist yet). Anything but a regular file there is refused.
std::string resolve_target(const std::string& path, const char* op, mode_t* existing_mode) {
  GRAFT_CHECK(!path.empty(), "{}: the path is empty", op);
  fs::path p(path);
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      const int err = errno;
      GRAFT_CHECK(err == ENOENT, "{}: cannot write '{}': {}", op, path, std::strerror(err));
      *existing_mode = 0;
      return p.string();
    }
    if (S_ISLNK(st.st_mode)) {
      GRAFT_CHECK(hops < 40, "{}: cannot write '{}': too many levels of symbolic links", op, path);
      std::error_code ec;
      const fs::path link = fs::read_symlink(p, ec);
      GRAFT_CHECK(!ec, "{}: cannot read the symbolic link '{}': {}", op, p.string(), ec.message());
      p = link.is_absolute() ? link : p.parent_path() / link;
      continue;
    }
    GRAFT_CHECK(S_ISREG(st.st_mode), "{}: refusing to write '{}': {} is {}, not a regular file", op, path,
                p.string() == path ? "it" : "'" + p.string() + "', where its symbolic link points,", file_kind(st.st_mode));
    *existing_mode = st.st_mode & 07777;
    return p.string();
  }
}

// The process's umask, read without changing it (umask(2) can only be read by setting it, which races with
// other threads creating files).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  return 022;
}

// "<dir>/.<name>.tmp-<pid>-XXXXXX": the pid says whose it is, so stale ones can be recognised.
std::string temp_prefix(const fs::path& target) { return "." + target.filename().string() + ".tmp-"; }

// Removes the temporary files that writers to `target` left behind when they died: those whose process no
// longer exists (also "<name>.tmp-<pid>", the name graft's safetensors writer used before). Best effort.
void remove_stale_temporaries(const fs::path& target) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefixes[] = {temp_prefix(target), target.filename().string() + ".tmp-"};
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name(entry->d_name);
    for (const std::string& prefix : prefixes) {
      if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string_view rest = name.substr(prefix.size());
      long pid = 0;
      auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
      const bool well_formed = ec == std::errc() && pid > 0 && (end == rest.data() + rest.size() || *end == '-');
      if (well_formed && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
        stale.emplace_back(name);
      break;
    }
  }
  ::closedir(d);
  for (const std::string& name : stale) ::unlink((dir / name).c_str());
}

void fsync_directory_of(const fs::path& target, const char* op, const std::string& path) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  GRAFT_CHECK(fd >= 0, "{}: wrote '{}' but cannot open its directory to make the rename durable: {}", op, path,
              std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL); the rename is as durable as they make it.
  GRAFT_CHECK(rc == 0 || err == EINVAL, "{}: wrote '{}' but syncing its directory failed: {}", op, path,
              std::strerror(err));
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& path, const char* op) : path_(path), op_(op) {
  mode_t existing_mode = 0;
  target_ = resolve_target(path, op, &existing_mode);
  const fs::path target(target_);
  remove_stale_temporaries(target);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string pattern = (dir / (temp_prefix(target) + std::to_string(::getpid()) + "-XXXXXX")).string();
  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
  GRAFT_CHECK(fd_ >= 0, "{}: cannot create a temporary file next to '{}' (in '{}'): {}", op, path, dir.string(),
              std::strerror(errno));
  temp_ = pattern;
  // A new file gets the permissions any new file would; a replaced one keeps its own.
  ::fchmod(fd_, existing_mode ? existing_mode : (0666 & ~current_umask()));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFileWriter::fail(const char* what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
  temp_.clear();
  GRAFT_FAIL("{}: writing '{}' failed ({}): {}; the file was not changed", op_, path_, what, std::strerror(err));
}

void AtomicFileWriter::write(const void* data, size_t n) {
  GRAFT_CHECK(fd_ >= 0 && !committed_, "{}: '{}' is already written or failed", op_, path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t done = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) fail("write", done < 0 ? errno : ENOSPC);
    p += done;
    n -= static_cast<size_t>(done);
  }
}

void AtomicFileWriter::commit() {
  GRAFT_CHECK(fd_ >= 0 && !committed_, "{}: '{}' is already written or failed", op_, path_);
  if (::fsync(fd_) != 0) fail("fsync", errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("close", errno);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("rename", errno);
  committed_ = true;
  fsync_directory_of(fs::path(target_), op_, path_);
}

void write_file_atomically(const std::string& path, std::string_view content, const char* op) {
  AtomicFileWriter out(path, op);
  out.write(content);
  out.commit();
}

}  // namespace graft
