#include "graft/nn/modules/mlp.h"

#include "graft/nn/modules/dropout.h"
#include "graft/nn/modules/linear.h"

namespace graft::nn {

MLP::MLP(std::vector<int64_t> sizes_, MLPOptions options) : Sequential("MLP"), sizes(std::move(sizes_)) {
  GRAFT_CHECK(sizes.size() >= 2, "MLP: sizes must list the input size and at least one layer size, got [{}]",
              fmt::join(sizes, ", "));
  for (int64_t s : sizes)
    GRAFT_CHECK(s > 0, "MLP: every size must be positive, got [{}]", fmt::join(sizes, ", "));
  GRAFT_CHECK(options.dropout >= 0.0 && options.dropout <= 1.0,
              "MLP: dropout probability has to be between 0 and 1, but got {}", options.dropout);
  GRAFT_CHECK(is_floating(options.dtype), "MLP: dtype must be floating point, got {}", dtype_name(options.dtype));
  for (size_t i = 1; i < sizes.size(); ++i) {
    const bool last = i + 1 == sizes.size();
    push_back(std::make_shared<Linear>(sizes[i - 1], sizes[i], options.bias, options.dtype));
    if (!last && options.norm_layer) {
      ModulePtr norm = options.norm_layer(sizes[i]);
      GRAFT_CHECK(norm != nullptr, "MLP: norm_layer returned a null module for width {}", sizes[i]);
      norm->to(options.dtype);  // a norm layer made by the factory follows the Linears' dtype
      push_back(norm);
    }
    if (!last || options.activate_output) push_back(options.activation());
    push_back(std::make_shared<Dropout>(options.dropout));
  }
}

MLP::MLP(std::vector<int64_t> sizes_, ActivationFactory activation, double dropout)
    : MLP(std::move(sizes_), MLPOptions{.activation = std::move(activation), .dropout = dropout}) {}

namespace {
std::vector<int64_t> prepend(int64_t first, std::vector<int64_t> rest) {
  rest.insert(rest.begin(), first);
  return rest;
}
}  // namespace

MLP::MLP(int64_t in_channels, std::vector<int64_t> hidden_channels, MLPOptions options)
    : MLP(prepend(in_channels, std::move(hidden_channels)), std::move(options)) {}

}  // namespace graft::nn
