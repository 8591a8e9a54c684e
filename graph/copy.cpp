#include "graft/graph/copy.h"

#include <cstring>

#include "graft/graph/loops.h"
#include "graft/graph/overlap.h"

namespace graft::loops {

void copy_into(const Tensor& dst, const Tensor& src_in) {
  // A source sharing memory with the destination in another layout is read through a copy, so no element is
  // read after it was overwritten.
  const bool read_through_copy =
      ranges_overlap(dst, src_in) && get_overlap_status(dst, src_in) != MemOverlapStatus::Full;
  const Tensor src = read_through_copy ? copy_as(src_in, src_in.dtype()) : src_in;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() && dst.numel() == src.numel()) {
    if (dst.data_ptr() != src.data_ptr() && dst.numel() > 0)
      std::memmove(dst.data_ptr(), src.data_ptr(), static_cast<size_t>(dst.numel()) * dst.element_size());
    return;
  }
  dispatch_all(dst.dtype(), [&]<class TD>() {
    dispatch_all(src.dtype(), [&]<class TS>() { map1<TD, TS>(dst, src, [](TS v) { return static_cast<TD>(v); }); });
  });
}

Tensor copy_as(const Tensor& src, DType dtype) {
  Tensor out = empty_tensor(src.shape(), dtype);
  copy_into(out, src);
  return out;
}

}  // namespace graft::loops
