#pragma once
// The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian header
// (two zero bytes, an element-type byte, the number of dims, then each dim as a 32-bit integer) followed
// by the elements. Files may be gzip-compressed (read through zlib) or plain.
#include <cstdint>
#include <string>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::data {

struct IdxArray {
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // the elements, row-major
};

/// Reads an IDX file of unsigned bytes (element type 0x08), plain or gzip-compressed (one or more gzip
/// members, each checked against its CRC-32 and length trailer). Memory grows only with data that is really in
/// the file, never with what its header claims.
/// @throws graft::Error naming the file for: a missing file or one that is not a regular file, a bad magic
/// number, another element type, dims whose product overflows, a truncated or over-long file, a corrupt or
/// truncated gzip stream (including a missing trailer), or bytes after the gzip data.
IdxArray read_idx(const std::string& path);

/// MNIST-format images (an IDX file of shape (N, rows, cols)) as float32 pixel / 255, shaped (N, rows * cols)
/// when flatten, else (N, 1, rows, cols).
Tensor read_mnist_images(const std::string& path, bool flatten = true);
/// MNIST-format labels (an IDX file of shape (N)) as int64.
Tensor read_mnist_labels(const std::string& path);

}  // namespace graft::data
