#include "graft/ops/detail/attention_checks.h"

#include "graft/ops/detail/op_helpers.h"

namespace graft::detail {

void check_attention_operands(const char* op, const Tensor& query, const Tensor& key, const Tensor& value) {
  check_defined(op, "query", query);
  check_defined(op, "key", key);
  check_defined(op, "value", value);
  GRAFT_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2,
              "{}: query, key and value need at least 2 dims (..., L, E), got shapes {}, {} and {}", op,
              shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  GRAFT_CHECK(is_floating(query.dtype()), "{}: expected a floating-point query, got {}", op, dtype_name(query.dtype()));
  GRAFT_CHECK(key.dtype() == query.dtype() && value.dtype() == query.dtype(),
              "{}: query, key and value must have the same dtype, got {}, {} and {}", op, dtype_name(query.dtype()),
              dtype_name(key.dtype()), dtype_name(value.dtype()));
}

void check_attention_sizes(const char* op, const Tensor& query, const Tensor& key, const Tensor& value) {
  GRAFT_CHECK(key.shape()[key.dim() - 1] == query.shape()[query.dim() - 1],
              "{}: query and key must have the same embedding size (last dim), got query {} and key {}", op,
              shape_str(query.shape()), shape_str(key.shape()));
  GRAFT_CHECK(value.shape()[value.dim() - 2] == key.shape()[key.dim() - 2],
              "{}: key and value must have the same sequence length (dim -2), got key {} and value {}", op,
              shape_str(key.shape()), shape_str(value.shape()));
}

}  // namespace graft::detail
