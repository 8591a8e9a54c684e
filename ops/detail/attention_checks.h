#pragma once
// The argument checks that scaled_dot_product_attention and flash_attention share, private to the
// attention ops. Each raises graft::Error naming `op`, the argument and the shapes or dtypes.
#include "graft/graph/tensor.h"

namespace graft::detail {

// query, key and value (..., L, E) are defined, have at least 2 dims and one floating dtype.
void check_attention_operands(const char* op, const Tensor& query, const Tensor& key, const Tensor& value);

// query and key share the embedding size (last dim); key and value share the sequence length (dim -2).
void check_attention_sizes(const char* op, const Tensor& query, const Tensor& key, const Tensor& value);

}  // namespace graft::detail
