#include "graft/ops/kernels/onednn_primitives.h"

#include <omp.h>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"

namespace graft::kernels::onednn {

dnnl::engine& engine() {
  static dnnl::engine eng = [] {
    init_onednn();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return eng;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

size_t PrimitiveKeyHash::operator()(const PrimitiveKey& k) const noexcept {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the fields
  for (int64_t f : k.fields) {
    h ^= static_cast<uint64_t>(f);
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

PrimitiveKey make_key(std::initializer_list<int64_t> fields) {
  // The thread count is part of the key (oneDNN sizes its work split when a primitive is created), so it must
  // be the count the kernel runs with: the one its ThreadBudget set.
  GRAFT_CHECK(ThreadBudget::active(), "onednn: a primitive was keyed outside a ThreadBudget");
  GRAFT_CHECK(fields.size() < PrimitiveKey::kFields, "onednn: a primitive key has at most {} fields, got {}",
              PrimitiveKey::kFields - 1, fields.size());
  PrimitiveKey key;
  size_t i = 0;
  for (int64_t f : fields) key.fields[i++] = f;
  key.fields[PrimitiveKey::kFields - 1] = omp_get_max_threads();
  return key;
}

dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims) {
  static constexpr dnnl::memory::format_tag tags[] = {dnnl::memory::format_tag::a, dnnl::memory::format_tag::ab,
                                                      dnnl::memory::format_tag::abc, dnnl::memory::format_tag::abcd};
  GRAFT_CHECK(!dims.empty() && dims.size() <= 4, "onednn: plain descriptors have 1 to 4 dims, got {}", dims.size());
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tags[dims.size() - 1]);
}

Tensor dense(const Tensor& t, IntList shape, DType dt) {
  if (t.dtype() == dt && t.is_contiguous() && t.shape() == shape) return t;
  Tensor out = empty_tensor(shape, dt);
  copy_into(out, t);
  return out;
}

dnnl::memory wrap(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, engine(), t.data_ptr());
}

namespace {
std::optional<dnnl::reorder> reorder_between(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  if (from == to) return std::nullopt;
  return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
}
}  // namespace

Port Port::input(const dnnl::memory::desc& plain, const dnnl::memory::desc& chosen) {
  return {plain, chosen, reorder_between(plain, chosen)};
}

Port Port::output(const dnnl::memory::desc& plain, const dnnl::memory::desc& chosen) {
  return {plain, chosen, reorder_between(chosen, plain)};
}

dnnl::memory Bindings::scratch(const dnnl::memory::desc& md) {
  Tensor buffer = empty_tensor({static_cast<int64_t>((md.get_size() + 3) / 4)}, kFloat32);
  scratch_.push_back(buffer);
  return dnnl::memory(md, engine(), buffer.data_ptr());
}

dnnl::memory Bindings::input(const Port& port, const Tensor& t) {
  dnnl::memory plain = wrap(port.plain, t);
  if (!port.reorder) return plain;
  dnnl::memory chosen = scratch(port.chosen);
  port.reorder->execute(stream(), plain, chosen);
  return chosen;
}

dnnl::memory Bindings::output(const Port& port, const Tensor& t) {
  dnnl::memory plain = wrap(port.plain, t);
  if (!port.reorder) return plain;
  dnnl::memory chosen = scratch(port.chosen);
  outputs_.push_back({&port, {chosen, plain}});
  return chosen;
}

void Bindings::finish() {
  for (auto& [port, mems] : outputs_) port->reorder->execute(stream(), mems.first, mems.second);
  outputs_.clear();
  stream().wait();
}

}  // namespace graft::kernels::onednn
