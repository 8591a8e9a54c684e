#include "graft/ops/kernels/fold.h"

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// f(column offset, input offset or -1 in the padding) for each (i, j, oh, ow) of one channel (col2im's walk).
template <class F>
void for_each_tap(const BlockGeometry& g, int64_t h, int64_t w, F&& f) {
  const int64_t oh_n = g.blocks[0], ow_n = g.blocks[1];
  for (int64_t i = 0; i < g.kernel[0]; ++i)
    for (int64_t j = 0; j < g.kernel[1]; ++j) {
      const int64_t row = (i * g.kernel[1] + j) * oh_n * ow_n;
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        const int64_t ih = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          const int64_t iw = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
          const bool inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
          f(row + oh * ow_n + ow, inside ? ih * w + iw : -1);
        }
      }
    }
}

}  // namespace

void im2col(const Tensor& x, const BlockGeometry& g, const Tensor& columns) {
  const int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t per_plane = g.kernel[0] * g.kernel[1] * g.blocks[0] * g.blocks[1];
  dispatch_floating(x.dtype(), "unfold", [&]<class T>() {
    const T* xp = x.data_ptr<T>();
    T* cp = columns.data_ptr<T>();
    parallel_for(planes, planes * per_plane, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* plane = xp + p * h * w;
        T* col = cp + p * per_plane;
        im2col_plane(plane, h, w, g, col);
      }
    });
  });
}

void col2im(const Tensor& columns, const BlockGeometry& g, const Tensor& x) {
  const int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t per_plane = g.kernel[0] * g.kernel[1] * g.blocks[0] * g.blocks[1];
  dispatch_floating(x.dtype(), "fold", [&]<class T>() {
    const T* cp = columns.data_ptr<T>();
    T* xp = x.data_ptr<T>();
    parallel_for(planes, planes * (per_plane + h * w), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        T* plane = xp + p * h * w;
        for (int64_t i = 0; i < h * w; ++i) plane[i] = T(0);
        const T* col = cp + p * per_plane;
        for_each_tap(g, h, w, [&](int64_t c, int64_t at) {
          if (at >= 0) plane[at] += col[c];
        });
      }
    });
  });
}

}  // namespace graft::kernels
