#pragma once
// What the fuzz targets share: the input written to a file of this process's own scratch directory (the
// readers under test take paths), and a directory of files cut out of one input.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace graft::fuzz {

// /dev/shm (or the temporary directory) / graft-fuzz-<pid>: created once, removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("graft-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    static struct Remover {
      std::filesystem::path path;
      ~Remover() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    } remover{d};
    return d;
  }();
  return dir;
}

inline std::string write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path.string();
}

inline std::string write_input(const uint8_t* data, size_t size, const std::string& name) {
  return write_file(scratch() / name, data, size);
}

// The files of a ZeRO checkpoint directory packed into one input: a byte n (taken modulo 4, plus 1), then n
// times a 4-byte little-endian length and that many bytes. A short input gives fewer, shorter files.
inline std::vector<std::string> unpack_files(const uint8_t* data, size_t size) {
  std::vector<std::string> files;
  if (size == 0) return files;
  const size_t n = data[0] % 4 + 1;
  size_t at = 1;
  for (size_t i = 0; i < n; ++i) {
    uint32_t len = 0;
    if (at + 4 <= size) std::memcpy(&len, data + at, 4);
    at = std::min(size, at + 4);
    const size_t take = std::min<size_t>(len, size - at);
    files.emplace_back(reinterpret_cast<const char*>(data + at), take);
    at += take;
  }
  return files;
}

inline std::string pack_files(const std::vector<std::string>& files) {
  std::string out(1, static_cast<char>(files.size() - 1));
  for (const std::string& f : files) {
    const uint32_t len = static_cast<uint32_t>(f.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += f;
  }
  return out;
}

}  // namespace graft::fuzz
