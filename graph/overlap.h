#pragma once
// Whether tensors share memory, for writes that must not read what they have already written (after
// PyTorch's ATen/MemoryOverlap.h). In-place ops refuse a destination in which several elements are one
// memory location (an expanded tensor), and a source that overlaps the destination only partly (a tensor
// and its own transpose, or two shifted slices of one buffer).
#include "graft/graph/tensor.h"

namespace graft {

/// Whether the elements of one tensor share memory locations.
enum class MemOverlap {
  No,       ///< every element has its own location
  Yes,      ///< some locations hold several elements (a stride of 0 along a dim of size > 1)
  TooHard,  ///< the layout is neither dense nor simply expanded; not worth deciding
};

/// How the memory of two tensors relates.
enum class MemOverlapStatus {
  Full,     ///< the same elements at the same locations (the same layout over the same memory)
  Partial,  ///< some memory in common, laid out differently
  No,       ///< no memory in common
  TooHard,  ///< one of them is neither dense nor simply expanded
};

/// True when `t` (shape, strides) covers a contiguous block of memory exactly once, in any dim order.
bool is_non_overlapping_and_dense(const Tensor& t);
/// Whether several elements of `t` refer to one memory location.
MemOverlap has_internal_overlap(const Tensor& t);
/// How the memory of `a` and `b` relates.
MemOverlapStatus get_overlap_status(const Tensor& a, const Tensor& b);
/// True when the byte ranges [first, last element] of `a` and `b` in their storage intersect (a
/// conservative test: tensors interleaved in one range count as overlapping).
bool ranges_overlap(const Tensor& a, const Tensor& b);

/// Raises when `written` has internal overlap, as PyTorch's in-place ops do.
/// @throws graft::Error "<op>: unsupported operation: more than one element of the written-to tensor refers
/// to a single memory location. Please clone() the tensor before performing the operation."
void assert_no_internal_overlap(const Tensor& written, const char* op);
/// Raises when `read` and `written` share memory partially (full overlap, `x.add_(x)`, is fine).
/// @throws graft::Error "<op>: unsupported operation: some elements of the input tensor and the written-to
/// tensor refer to a single memory location. Please clone() the tensor before performing the operation."
void assert_no_partial_overlap(const Tensor& written, const Tensor& read, const char* op);

}  // namespace graft
