#include "graft/graph/overlap.h"

#include <algorithm>
#include <numeric>

namespace graft {

bool is_non_overlapping_and_dense(const Tensor& t) {
  if (t.is_contiguous()) return true;
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  std::vector<size_t> dims(shape.size());
  std::iota(dims.begin(), dims.end(), 0);
  // Innermost first: the dims sorted by stride (size-1 dims last, where their stride does not matter).
  std::sort(dims.begin(), dims.end(), [&](size_t a, size_t b) {
    if (shape[a] < 2 || shape[b] < 2) return shape[a] >= 2 && shape[b] < 2;
    return strides[a] < strides[b];
  });
  int64_t expected = 1;
  for (size_t d : dims) {
    if (shape[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

MemOverlap has_internal_overlap(const Tensor& t) {
  if (is_non_overlapping_and_dense(t)) return MemOverlap::No;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.strides()[d] == 0 && t.shape()[d] > 1) return MemOverlap::Yes;
  return MemOverlap::TooHard;
}

namespace {

// The bytes [begin, end) of storage between t's first and one past its last element.
std::pair<int64_t, int64_t> byte_range(const Tensor& t) {
  const int64_t es = static_cast<int64_t>(t.element_size());
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.shape()[d] - 1) * t.strides()[d];
  return {t.storage_offset() * es, (last + 1) * es};
}

}  // namespace

bool ranges_overlap(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage() || a.numel() == 0 || b.numel() == 0) return false;
  auto [a_begin, a_end] = byte_range(a);
  auto [b_begin, b_end] = byte_range(b);
  return a_begin < b_end && b_begin < a_end;
}

MemOverlapStatus get_overlap_status(const Tensor& a, const Tensor& b) {
  if (a.is_same(b)) return MemOverlapStatus::Full;
  if (a.numel() == 0 || b.numel() == 0) return MemOverlapStatus::No;
  if (!is_non_overlapping_and_dense(a) || !is_non_overlapping_and_dense(b)) return MemOverlapStatus::TooHard;
  if (a.storage() != b.storage()) return MemOverlapStatus::No;
  auto [a_begin, a_end] = byte_range(a);
  auto [b_begin, b_end] = byte_range(b);
  if (a_begin == b_begin && a_end == b_end)
    return a.strides() == b.strides() && a.element_size() == b.element_size() ? MemOverlapStatus::Full
                                                                              : MemOverlapStatus::Partial;
  return a_begin < b_end && b_begin < a_end ? MemOverlapStatus::Partial : MemOverlapStatus::No;
}

void assert_no_internal_overlap(const Tensor& written, const char* op) {
  GRAFT_CHECK(has_internal_overlap(written) != MemOverlap::Yes,
              "{}: unsupported operation: more than one element of the written-to tensor refers to a single memory "
              "location. Please clone() the tensor before performing the operation.",
              op);
}

void assert_no_partial_overlap(const Tensor& written, const Tensor& read, const char* op) {
  GRAFT_CHECK(get_overlap_status(written, read) != MemOverlapStatus::Partial,
              "{}: unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
              "single memory location. Please clone() the tensor before performing the operation.",
              op);
}

}  // namespace graft
