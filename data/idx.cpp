#include "graft/data/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "graft/graph/factory.h"
#include "graft/graph/loops.h"

namespace graft::data {

namespace {

// The bytes of an IDX file, plain or gzip-compressed, read in order. The file itself is read whole (its size
// is a fact, not a claim); decompressed data is produced only as far as asked, so nothing is allocated for a
// size that the header claims until the data is really there.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    struct stat st {};
    GRAFT_CHECK(::stat(path.c_str(), &st) == 0, "read_idx: cannot open '{}': {}", path, std::strerror(errno));
    GRAFT_CHECK(S_ISREG(st.st_mode), "read_idx: '{}' is not a regular file", path);
    std::ifstream in(path, std::ios::binary);
    GRAFT_CHECK(in.good(), "read_idx: cannot open '{}': {}", path, std::strerror(errno));
    file_.assign(std::istreambuf_iterator<char>(in), {});
    GRAFT_CHECK(!in.bad(), "read_idx: cannot read '{}': {}", path, std::strerror(errno));
    gzip_ = file_.size() >= 2 && static_cast<uint8_t>(file_[0]) == 0x1f && static_cast<uint8_t>(file_[1]) == 0x8b;
    if (gzip_) {
      GRAFT_CHECK(inflateInit2(&z_, 15 + 16) == Z_OK, "read_idx: cannot start zlib for '{}'", path);
      z_.next_in = reinterpret_cast<Bytef*>(file_.data());
      z_.avail_in = static_cast<uInt>(std::min<size_t>(file_.size(), UINT_MAX));
      in_left_ = file_.size() - z_.avail_in;
    }
  }
  ~IdxStream() {
    if (gzip_) inflateEnd(&z_);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Reads up to n bytes into out; returns how many (fewer only where the data ends).
  size_t read(uint8_t* out, size_t n) {
    if (!gzip_) {
      const size_t k = std::min(n, file_.size() - pos_);
      if (k == 0) return 0;  // an empty file has no data pointer to copy from
      std::memcpy(out, file_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    size_t done = 0;
    while (done < n && !finished_) {
      z_.next_out = out + done;
      z_.avail_out = static_cast<uInt>(std::min<size_t>(n - done, UINT_MAX));
      const uInt before = z_.avail_out;
      if (z_.avail_in == 0 && in_left_ > 0) refill();
      const int rc = inflate(&z_, Z_NO_FLUSH);
      done += before - z_.avail_out;
      if (rc == Z_STREAM_END) {
        next_member();
      } else if (rc == Z_BUF_ERROR && z_.avail_in == 0 && in_left_ == 0) {
        GRAFT_FAIL("read_idx: '{}' is truncated: its gzip stream ends before its end marker and CRC-32 trailer", path_);
      } else {
        GRAFT_CHECK(rc == Z_OK, "read_idx: '{}' is corrupt: zlib says {}", path_, z_.msg ? z_.msg : zError(rc));
      }
    }
    return done;
  }

  // Bytes left in a plain file (its size is known); nullopt for a compressed one.
  std::optional<uint64_t> plain_bytes_left() const {
    return gzip_ ? std::nullopt : std::optional<uint64_t>(file_.size() - pos_);
  }

 private:
  void refill() {
    z_.avail_in = static_cast<uInt>(std::min<size_t>(in_left_, UINT_MAX));
    in_left_ -= z_.avail_in;
  }
  // A gzip file may hold several members one after the other; anything else after the last is an error.
  void next_member() {
    const size_t rest = z_.avail_in + in_left_;
    if (rest == 0) {
      finished_ = true;
      return;
    }
    GRAFT_CHECK(rest >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b,
                "read_idx: '{}' is corrupt: {} bytes that are not gzip data follow its gzip stream", path_, rest);
    GRAFT_CHECK(inflateReset(&z_) == Z_OK, "read_idx: cannot restart zlib for '{}'", path_);
  }

  std::string path_;
  std::vector<char> file_;
  size_t pos_ = 0;
  bool gzip_ = false;
  bool finished_ = false;
  z_stream z_{};
  size_t in_left_ = 0;
};

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  IdxStream file(path);
  uint8_t magic[4];
  GRAFT_CHECK(file.read(magic, 4) == 4, "read_idx: '{}' is truncated: it ends inside the 4-byte header", path);
  GRAFT_CHECK(magic[0] == 0 && magic[1] == 0,
              "read_idx: '{}' is not an IDX file (bad magic number 0x{:02x}{:02x}{:02x}{:02x})", path, magic[0], magic[1],
              magic[2], magic[3]);
  GRAFT_CHECK(magic[2] == 0x08, "read_idx: '{}' has element type 0x{:02x}; only unsigned bytes (0x08) are supported", path,
              magic[2]);
  const int ndim = magic[3];
  GRAFT_CHECK(ndim >= 1, "read_idx: '{}' declares 0 dims", path);
  std::vector<uint8_t> dims(static_cast<size_t>(4 * ndim));
  GRAFT_CHECK(file.read(dims.data(), dims.size()) == dims.size(), "read_idx: '{}' is truncated: it ends inside the dims",
              path);
  IdxArray out;
  for (int d = 0; d < ndim; ++d) out.shape.push_back(big_endian(&dims[static_cast<size_t>(4 * d)]));
  int64_t total = 0;
  try {
    total = numel_of(out.shape, "read_idx");
  } catch (const Error&) {
    GRAFT_FAIL("read_idx: '{}' is corrupt: its dims {} multiply to more elements than any tensor can have", path,
               shape_str(out.shape));
  }
  const uint64_t need = static_cast<uint64_t>(total);
  if (auto left = file.plain_bytes_left())
    GRAFT_CHECK(*left == need, "read_idx: '{}' is {}: shape {} needs {} bytes of data, the file has {}", path,
                *left < need ? "truncated" : "corrupt (size mismatch)", shape_str(out.shape), need, *left);
  // Compressed data is decompressed in chunks, so memory grows only with data that is really there.
  constexpr size_t kChunk = size_t{1} << 24;
  while (out.bytes.size() < need) {
    const size_t at = out.bytes.size();
    out.bytes.resize(at + static_cast<size_t>(std::min<uint64_t>(kChunk, need - at)));
    const size_t got = file.read(out.bytes.data() + at, out.bytes.size() - at);
    GRAFT_CHECK(at + got == out.bytes.size(), "read_idx: '{}' is truncated: shape {} needs {} bytes of data, the file has {}",
                path, shape_str(out.shape), need, at + got);
  }
  uint8_t extra;
  GRAFT_CHECK(file.read(&extra, 1) == 0, "read_idx: '{}' has a size mismatch: more data follows the {} bytes of shape {}",
              path, need, shape_str(out.shape));
  return out;
}

Tensor read_mnist_images(const std::string& path, bool flatten) {
  IdxArray idx = read_idx(path);
  GRAFT_CHECK(idx.shape.size() == 3, "read_mnist_images: '{}' holds shape {}, not (N, rows, cols) images", path,
              shape_str(idx.shape));
  const int64_t n = idx.shape[0], rows = idx.shape[1], cols = idx.shape[2];
  // With no images the file holds no data, so rows * cols is not bounded by its size.
  const int64_t pixels = checked_mul(rows, cols, "read_mnist_images", "rows * cols");
  Tensor images = flatten ? empty({n, pixels}, kFloat32) : empty({n, 1, rows, cols}, kFloat32);
  float* out = images.data_ptr<float>();
  const uint8_t* in = idx.bytes.data();
  const int64_t total = images.numel();
  loops::parallel_for(total, total, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = static_cast<float>(in[i]) / 255.0f;
  });
  return images;
}

Tensor read_mnist_labels(const std::string& path) {
  IdxArray idx = read_idx(path);
  GRAFT_CHECK(idx.shape.size() == 1, "read_mnist_labels: '{}' holds shape {}, not (N) labels", path, shape_str(idx.shape));
  std::vector<int64_t> labels(idx.bytes.begin(), idx.bytes.end());
  return tensor(labels, {idx.shape[0]}, kInt64);
}

}  // namespace graft::data
