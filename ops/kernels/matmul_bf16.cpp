// bfloat16 products on oneDNN's bf16 kernels: bf16 operands, f32 accumulation, one rounding to bf16 (or an
// f32 sum onto what `out` holds, for accumulate). Only where the CPU has bf16 dot-product instructions
// (AVX512_BF16): elsewhere oneDNN would fall back to slow reference code, so graft converts to float32
// instead (kernels/matmul.cpp).
#include <oneapi/dnnl/dnnl.hpp>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/matmul.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {

struct MatmulBf16 {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// oneDNN reads strided operands, but not a batch dim of stride 0 (a broadcast operand): those are copied.
Tensor without_broadcast_batch(const Tensor& t) {
  return t.shape()[0] > 1 && t.strides()[0] == 0 ? contiguous_copy(t) : t;
}

dnnl::memory::desc desc_of(const Tensor& t, dnnl::memory::data_type dt) {
  return dnnl::memory::desc({t.shape()[0], t.shape()[1], t.shape()[2]}, dt,
                            {t.strides()[0], t.strides()[1], t.strides()[2]});
}

}  // namespace

bool bf16_matmul_hardware() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;  // oneDNN's ISA values nest: each includes the bits of those below it
}

void bmm_bf16_onednn(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  ThreadBudget budget;
  GRAFT_CHECK(bf16_matmul_hardware(), "matmul: oneDNN's bfloat16 kernels need a CPU with AVX512_BF16, which this one "
                                      "lacks (oneDNN's ISA here: {:#x})",
              static_cast<unsigned>(dnnl::get_effective_cpu_isa()));
  GRAFT_CHECK(a_in.dtype() == kBFloat16 && b_in.dtype() == kBFloat16 && out.dtype() == kBFloat16,
              "matmul: the oneDNN bfloat16 path takes bfloat16 operands, got {}, {} and {}", dtype_name(a_in.dtype()),
              dtype_name(b_in.dtype()), dtype_name(out.dtype()));
  using dt = dnnl::memory::data_type;
  static onednn::PrimitiveCache<MatmulBf16> cache;
  Tensor a = without_broadcast_batch(a_in), b = without_broadcast_batch(b_in);
  const Tensor& c = out;  // contiguous (B, M, N), made by the op
  const int64_t B = c.shape()[0], M = c.shape()[1], N = c.shape()[2], K = a.shape()[2];
  auto pair = [](int64_t hi, int64_t lo) { return (hi << 32) | lo; };  // strides of a tensor below 2^32 elements
  auto key = onednn::make_key({B, M, N, K, a.strides()[0], pair(a.strides()[1], a.strides()[2]), b.strides()[0],
                               pair(b.strides()[1], b.strides()[2]), accumulate ? 1 : 0});
  auto entry = cache.get(key, [&] {
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd({desc_of(a, dt::bf16), desc_of(b, dt::bf16), desc_of(c, dt::bf16)}, attr,
                                    onednn::engine());
    return MatmulBf16{pd, dnnl::matmul(pd)};
  });
  entry->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, dnnl::memory(desc_of(a, dt::bf16), onednn::engine(), a.data_ptr())},
                                         {DNNL_ARG_WEIGHTS, dnnl::memory(desc_of(b, dt::bf16), onednn::engine(), b.data_ptr())},
                                         {DNNL_ARG_DST, dnnl::memory(desc_of(c, dt::bf16), onednn::engine(), c.data_ptr())}});
  onednn::stream().wait();
}

}  // namespace graft::kernels
