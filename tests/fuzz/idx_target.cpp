// Fuzz target idx (targets.h): the IDX reader (plain and gzip) on arbitrary bytes: an array, or graft::Error.
#include "graft/graft.h"
#include "fuzz_input.h"
#include "targets.h"


namespace graft::fuzz {

int idx_input(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "input.idx");
  try {
    const data::IdxArray idx = data::read_idx(path);
    int64_t n = 1;
    for (int64_t d : idx.shape) n = checked_mul(n, d, "idx target", "the shape's element count");
    if (static_cast<size_t>(n) != idx.bytes.size()) fail("idx: the shape and the byte count disagree");
    if (idx.shape.size() == 3) (void)data::read_mnist_images(path).sum().item<double>();
    if (idx.shape.size() == 1) (void)data::read_mnist_labels(path).sum().item<int64_t>();
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace graft::fuzz
