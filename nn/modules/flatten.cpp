#include "graft/nn/modules/flatten.h"

#include <fmt/format.h>

#include "graft/nn/modules/repr_format.h"
#include "graft/ops/shape.h"

namespace graft::nn {

Flatten::Flatten(int64_t start, int64_t end) : Module("Flatten"), start_dim(start), end_dim(end) {}

Tensor Flatten::forward(const Tensor& input) {
  return flatten(input, start_dim, end_dim);
}

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

Unflatten::Unflatten(int64_t d, IntList sizes)
    : Module("Unflatten"), dim(d), unflattened_size(sizes.begin(), sizes.end()) {
  GRAFT_CHECK(!unflattened_size.empty(), "Unflatten: unflattened_size must not be empty");
}

Tensor Unflatten::forward(const Tensor& input) {
  GRAFT_CHECK(dim >= -input.dim() && dim < input.dim(), "Unflatten: dim {} is out of range for input of shape {}", dim,
              shape_str(input.shape()));
  const int64_t d = dim < 0 ? dim + input.dim() : dim;
  int64_t known = 1, unknown = 0;
  for (int64_t s : unflattened_size) {
    if (s == -1) ++unknown;
    else known *= s;
  }
  const int64_t size = input.shape()[d];
  const bool fits = unknown == 0 ? known == size : unknown == 1 && known > 0 && size % known == 0;
  GRAFT_CHECK(fits,
              "Unflatten: unflattened_size {} does not fit dim {} of size {} (input {})",
              repr_format::py_tuple(unflattened_size), d, size, shape_str(input.shape()));
  Shape shape(input.shape().begin(), input.shape().begin() + d);
  for (int64_t s : unflattened_size) shape.push_back(s == -1 ? size / known : s);
  for (int64_t i = d + 1; i < input.dim(); ++i) shape.push_back(input.shape()[i]);
  return reshape(input, shape);
}

std::string Unflatten::extra_repr() const {
  return fmt::format("dim={}, unflattened_size={}", dim, repr_format::py_tuple(unflattened_size));
}

}  // namespace graft::nn
