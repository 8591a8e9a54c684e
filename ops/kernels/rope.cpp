#include "graft/ops/kernels/rope.h"

#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// Calls f(r, cos_row, sin_row) for every row r (of length D, the last dim) of `shape`, with the rows of cos and
// sin that broadcast to it. cos and sin are contiguous along their last dim.
template <class T, class F>
void for_each_rope_row(IntList shape, const Tensor& cos, const Tensor& sin, F f) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t D = shape[nd - 1];
  const int64_t rows = D == 0 ? 0 : numel_of(shape) / D;
  const Shape cs = broadcast_byte_strides(cos, shape), ss = broadcast_byte_strides(sin, shape);
  const char* C = static_cast<const char*>(cos.data_ptr());
  const char* S = static_cast<const char*>(sin.data_ptr());
  parallel_for(rows, rows * D * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, co = 0, so = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        co += i * cs[d];
        so += i * ss[d];
      }
      f(r, reinterpret_cast<const T*>(C + co), reinterpret_cast<const T*>(S + so));
    }
  });
}

}  // namespace

void rotate_half(const Tensor& x, const Tensor& out) {
  dispatch_floating_and_half(x.dtype(), "rotate_half", [&]<class T>() {
    const int64_t D = x.shape()[x.dim() - 1], h = D / 2;
    const int64_t rows = D == 0 ? 0 : x.numel() / D;
    const T* X = static_cast<const T*>(x.data_ptr());
    T* O = static_cast<T*>(out.data_ptr());
    parallel_for(rows, rows * D, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = X + r * D;
        T* o = O + r * D;
        for (int64_t j = 0; j < h; ++j) {
          o[j] = -xr[j + h];
          o[j + h] = xr[j];
        }
      }
    });
  });
}

void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& out) {
  dispatch_floating_and_half(x.dtype(), "apply_rotary_emb", [&]<class T>() {
    const int64_t D = x.shape()[x.dim() - 1], h = D / 2;
    const T* X = static_cast<const T*>(x.data_ptr());
    T* O = static_cast<T*>(out.data_ptr());
    for_each_rope_row<T>(x.shape(), cos, sin, [&](int64_t r, const T* c, const T* s) {
      const T* xr = X + r * D;
      T* o = O + r * D;
      for (int64_t j = 0; j < h; ++j) {
        o[j] = xr[j] * c[j] - xr[j + h] * s[j];
        o[j + h] = xr[j + h] * c[j + h] + xr[j] * s[j + h];
      }
    });
  });
}

void rope_backward(const Tensor& g, const Tensor& cos, const Tensor& sin, const Tensor& dx) {
  dispatch_floating_and_half(g.dtype(), "apply_rotary_emb", [&]<class T>() {
    const int64_t D = g.shape()[g.dim() - 1], h = D / 2;
    const T* G = static_cast<const T*>(g.data_ptr());
    T* O = static_cast<T*>(dx.data_ptr());
    for_each_rope_row<T>(g.shape(), cos, sin, [&](int64_t r, const T* c, const T* s) {
      const T* gr = G + r * D;
      T* o = O + r * D;
      for (int64_t j = 0; j < h; ++j) {
        o[j] = gr[j] * c[j] + gr[j + h] * s[j + h];
        o[j + h] = gr[j + h] * c[j + h] - gr[j] * s[j];
      }
    });
  });
}

}  // namespace graft::kernels
