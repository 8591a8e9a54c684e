#pragma once
// Writing a file so that nobody ever sees half of it: every file graft writes (safetensors weights,
// checkpoints, ZeRO shards, rendered graphs, the examples' pictures) goes through AtomicFileWriter.
//
//   AtomicFileWriter out(path, "save_safetensors");
//   out.write(header.data(), header.size());
//   out.commit();  // now `path` holds the new content; until here it held the old one
//
// How: the content goes to a temporary file of its own (unique per call, so concurrent saves to one path,
// from one process or several, never share one) in the target's directory, which is flushed and fsync'ed,
// renamed over the target, and the directory is fsync'ed, so the new name survives a crash. A writer that
// fails or is destroyed before commit() removes its temporary file and leaves the target untouched. The
// temporary files of writers that died (killed mid-save) are named after their process and are removed by
// the next save to the same path once that process no longer exists.
//
// Symlinks and special files: a symlink at the target is followed and the file it points to is replaced
// (the link stays a link, as `cp` or a shell redirection would have it); a target that is a directory, a
// device, a FIFO or a socket is refused with graft::Error (nothing is written).
#include <cstddef>
#include <string>
#include <string_view>

namespace graft {

class AtomicFileWriter {
 public:
  /// Creates the temporary file for replacing `path`.
  /// @param op names the caller in errors (e.g. "save_safetensors").
  /// @throws graft::Error when the target is not a regular file (or a symlink to one, or absent), or the
  /// temporary file cannot be created (e.g. the directory does not exist or is not writable).
  AtomicFileWriter(const std::string& path, const char* op);
  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends n bytes.
  /// @throws graft::Error when the write fails (e.g. the disk is full), naming the target.
  void write(const void* data, size_t n);
  void write(std::string_view text) { write(text.data(), text.size()); }
  /// The temporary file, for writers that write by name (Graphviz). They must write it in place (open it
  /// for writing), not replace it.
  const std::string& temp_path() const { return temp_; }
  /// The file being replaced: `path`, or the file its chain of symlinks ends at.
  const std::string& target() const { return target_; }
  /// Flushes and fsyncs the temporary file, renames it over the target, and fsyncs the directory.
  /// @throws graft::Error when any of these fails; the target then holds its old content (or nothing
  /// new), and the temporary file is removed.
  void commit();

 private:
  void fail(const char* what, int err);

  std::string path_;
  std::string target_;
  std::string temp_;
  const char* op_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Replaces the file at `path` with `content` through an AtomicFileWriter.
/// @throws graft::Error as AtomicFileWriter.
void write_file_atomically(const std::string& path, std::string_view content, const char* op);

}  // namespace graft
