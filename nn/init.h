#pragma once
// torch.nn.init: in-place initialisers (under no-grad), with PyTorch's formulas for gains and fans.
// Random ones draw from `gen`, or from the global generator (graft::manual_seed).
#include <string>

#include "graft/graph/generator.h"
#include "graft/graph/tensor.h"

namespace graft::nn::init {

/// The recommended gain for a nonlinearity: linear/sigmoid/conv 1, tanh 5/3, relu sqrt(2),
/// leaky_relu sqrt(2 / (1 + slope^2)) (slope `param`, default 0.01), selu 3/4.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
/// (fan_in, fan_out) of a weight of at least 2 dims: size(1) and size(0) times the receptive field.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Normal values redrawn until they fall in [a, b] (the distribution PyTorch's trunc_normal_ gives).
Tensor& trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                      Generator* gen = nullptr);
Tensor& constant_(Tensor& t, double value);
Tensor& ones_(Tensor& t);
Tensor& zeros_(Tensor& t);
Tensor& eye_(Tensor& t);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
/// mode "fan_in" or "fan_out"; nonlinearity as for calculate_gain, with `a` the leaky_relu slope. A tensor
/// without elements is left as it is (PyTorch's no-op), so modules with a zero-size dimension construct.
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

}  // namespace graft::nn::init
