#include "support/op_registry.h"

#include <map>

namespace graft::testing {

std::vector<OpInfo>& registry() {
  static std::vector<OpInfo> ops;
  return ops;
}

const OpInfo* find_op(const std::string& name) {
  for (const OpInfo& op : registry())
    if (op.name == name) return &op;
  return nullptr;
}

Registrar::Registrar(OpInfo info) { registry().push_back(std::move(info)); }

Tensor uniform(IntList shape, DType dtype, double low, double high, uint64_t seed) {
  Generator gen(seed * 7919 + 17);
  Tensor t = rand(shape, kFloat64, &gen);
  return (t * (high - low) + low).to(dtype);
}

Tensor away_from_zero(IntList shape, DType dtype, double margin, double high, uint64_t seed) {
  Generator gen(seed * 104729 + 3);
  Tensor mag = rand(shape, kFloat64, &gen) * (high - margin) + margin;
  Tensor sign = rand(shape, kFloat64, &gen) < 0.5;
  return where(sign, -mag, mag).to(dtype);
}

Tensor indices(IntList shape, int64_t high, uint64_t seed) {
  Generator gen(seed * 31 + 5);
  return randint(0, high, shape, {}, &gen);
}

Sample sample(std::string description, TensorList inputs, std::function<Tensor(const TensorList&)> fn,
              std::vector<size_t> constant) {
  return Sample{std::move(description), std::move(inputs),
                [fn = std::move(fn)](const TensorList& in) { return TensorList{fn(in)}; }, std::move(constant)};
}

}  // namespace graft::testing
