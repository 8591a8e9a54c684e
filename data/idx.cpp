#include "graft/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "graft/graph/factory.h"
#include "graft/graph/loops.h"

namespace graft::data {

namespace {

// A gzip (or plain) file opened for reading through zlib.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    GRAFT_CHECK(file_ != nullptr, "read_idx: cannot open '{}': {}", path,
                errno ? std::strerror(errno) : "out of memory");
    gzbuffer(file_, 1 << 17);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (fewer only at the end of the data).
  size_t read(void* out, size_t n) {
    char* p = static_cast<char*>(out);
    size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(file_, p + done, chunk);
      check("reading");
      if (got <= 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  void check(const char* what) {
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    GRAFT_CHECK(err == Z_OK || err == Z_STREAM_END, "read_idx: '{}' is corrupt or truncated ({} it failed: {})", path_, what,
                err == Z_ERRNO ? std::strerror(errno) : msg);
  }

  std::string path_;
  gzFile file_;
};

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  errno = 0;
  GzFile file(path);
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
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t size = big_endian(&dims[static_cast<size_t>(4 * d)]);
    out.shape.push_back(size);
    total *= size;
    GRAFT_CHECK(total <= (uint64_t{1} << 40), "read_idx: '{}' declares an implausible size (dims {})", path,
                shape_str(out.shape));
  }
  out.bytes.resize(total);
  const size_t got = file.read(out.bytes.data(), total);
  GRAFT_CHECK(got == total, "read_idx: '{}' is truncated: shape {} needs {} bytes of data, the file has {}", path,
              shape_str(out.shape), total, got);
  uint8_t extra;
  GRAFT_CHECK(file.read(&extra, 1) == 0, "read_idx: '{}' has a size mismatch: more data follows the {} bytes of shape {}",
              path, total, shape_str(out.shape));
  return out;
}

Tensor read_mnist_images(const std::string& path, bool flatten) {
  IdxArray idx = read_idx(path);
  GRAFT_CHECK(idx.shape.size() == 3, "read_mnist_images: '{}' holds shape {}, not (N, rows, cols) images", path,
              shape_str(idx.shape));
  const int64_t n = idx.shape[0], rows = idx.shape[1], cols = idx.shape[2];
  Tensor images = flatten ? empty({n, rows * cols}, kFloat32) : empty({n, 1, rows, cols}, kFloat32);
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
