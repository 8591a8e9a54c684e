#include "graft/nn/modules/rnn.h"

#include <cmath>

#include <fmt/format.h>

#include "graft/graph/factory.h"
#include "graft/graph/warning.h"
#include "graft/nn/init.h"
#include "graft/nn/modules/repr_format.h"
#include "graft/ops/dropout.h"
#include "graft/ops/rnn.h"
#include "graft/ops/shape.h"

namespace graft::nn {

namespace {

int64_t gates_of(const std::string& mode) { return mode == "LSTM" ? 4 : mode == "GRU" ? 3 : 1; }

}  // namespace

RNNBase::RNNBase(std::string name, std::string mode_, int64_t input, int64_t hidden, int64_t layers, bool with_bias,
                 bool batch_first_, double dropout_, bool bidirectional_, int64_t proj, DType dtype)
    : Module(name),
      mode(std::move(mode_)),
      input_size(input),
      hidden_size(hidden),
      num_layers(layers),
      bias(with_bias),
      batch_first(batch_first_),
      dropout(dropout_),
      bidirectional(bidirectional_),
      proj_size(proj) {
  GRAFT_CHECK(input >= 0, "{}: input_size must be non-negative, got {}", name, input);  // 0 is allowed, as in PyTorch
  GRAFT_CHECK(hidden > 0, "{}: hidden_size must be positive, got {}", name, hidden);
  GRAFT_CHECK(layers > 0, "{}: num_layers must be positive, got {}", name, layers);
  GRAFT_CHECK(dropout >= 0.0 && dropout <= 1.0, "{}: dropout should be a number in range [0, 1], got {}", name, dropout);
  GRAFT_CHECK(proj >= 0, "{}: proj_size should be a positive integer or zero, got {}", name, proj);
  GRAFT_CHECK(proj < hidden, "{}: proj_size ({}) has to be smaller than hidden_size ({})", name, proj, hidden);
  GRAFT_CHECK(is_floating(dtype), "{}: dtype must be floating point, got {}", name, dtype_name(dtype));
  if (dropout > 0.0 && layers == 1)
    warn(fmt::format("{}: dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                     "num_layers greater than 1, but got dropout={} and num_layers=1",
                     name, repr_format::py_float(dropout)));
  const int64_t gates = gates_of(mode), directions = bidirectional ? 2 : 1;
  const int64_t state = proj > 0 ? proj : hidden;
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t d = 0; d < directions; ++d) {
      const std::string suffix = fmt::format("_l{}{}", l, d == 1 ? "_reverse" : "");
      const int64_t in = l == 0 ? input : state * directions;
      std::vector<Tensor> w;
      w.push_back(register_parameter("weight_ih" + suffix, empty({gates * hidden, in}, dtype)));
      w.push_back(register_parameter("weight_hh" + suffix, empty({gates * hidden, state}, dtype)));
      w.push_back(bias ? register_parameter("bias_ih" + suffix, empty({gates * hidden}, dtype)) : Tensor());
      w.push_back(bias ? register_parameter("bias_hh" + suffix, empty({gates * hidden}, dtype)) : Tensor());
      w.push_back(proj > 0 ? register_parameter("weight_hr" + suffix, empty({proj, hidden}, dtype)) : Tensor());
      flat_weights_.push_back(std::move(w));
    }
  reset_parameters();
}

void RNNBase::reset_parameters() {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Tensor& p : parameters()) init::uniform_(p, -bound, bound);
}

std::vector<Tensor> RNNBase::layer_parameters(int64_t layer, int64_t direction) const {
  const int64_t directions = bidirectional ? 2 : 1;
  GRAFT_CHECK(layer >= 0 && layer < num_layers && direction >= 0 && direction < directions,
              "{}: there is no layer {} in direction {} ({} layers, {} directions)", type_name(), layer, direction,
              num_layers, directions);
  return flat_weights_[static_cast<size_t>(layer * directions + direction)];
}

std::string RNNBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_size, hidden_size);
  if (proj_size != 0) s += fmt::format(", proj_size={}", proj_size);
  if (num_layers != 1) s += fmt::format(", num_layers={}", num_layers);
  if (!bias) s += ", bias=False";
  if (batch_first) s += ", batch_first=True";
  if (dropout != 0.0) s += ", dropout=" + repr_format::py_float(dropout);
  if (bidirectional) s += ", bidirectional=True";
  return s;
}

Tensor RNNBase::forward(const Tensor& input) {
  return run(input, {}, {}, {}, true).output;
}

RecurrentOutput RNNBase::run(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths,
                             bool enforce_sorted) {
  const std::string& name = type_name();
  const bool lstm = mode == "LSTM";
  GRAFT_CHECK(input.defined(), "{}: the input is an undefined tensor", name);
  GRAFT_CHECK(input.dim() == 2 || input.dim() == 3, "{}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {}",
              name, shape_str(input.shape()));
  GRAFT_CHECK(input.shape()[input.dim() - 1] == input_size, "{}: input.size(-1) must be equal to input_size. Expected {}, got {}",
              name, input_size, input.shape()[input.dim() - 1]);
  const DType dtype = parameters().front().dtype();
  GRAFT_CHECK(input.dtype() == dtype, "{}: expected an input of dtype {} (the parameters'), got {}", name,
              dtype_name(dtype), dtype_name(input.dtype()));
  const bool batched = input.dim() == 3;
  const Tensor x = !batched ? unsqueeze(input, 1) : batch_first ? transpose(input, 0, 1) : input;  // (T, B, I)
  const int64_t batch = x.shape()[1], directions = bidirectional ? 2 : 1;
  const int64_t state = proj_size > 0 ? proj_size : hidden_size;

  // Initial states, (num_layers * D, B, size) once batched.
  auto initial = [&](const char* arg, const Tensor& given, int64_t size) {
    if (!given.defined()) return zeros({num_layers * directions, batch, size}, dtype);
    const Shape expected = batched ? Shape{num_layers * directions, batch, size} : Shape{num_layers * directions, size};
    GRAFT_CHECK(given.shape() == expected, "{}: expected {} of shape {}, got {}", name, arg, shape_str(expected),
                shape_str(given.shape()));
    GRAFT_CHECK(given.dtype() == dtype, "{}: expected {} of dtype {}, got {}", name, arg, dtype_name(dtype),
                dtype_name(given.dtype()));
    return batched ? given : unsqueeze(given, 1);
  };
  GRAFT_CHECK(!lstm || h0.defined() == c0.defined(), "{}: give both initial states h0 and c0, or neither", name);
  const Tensor h = initial("h0", h0, state), c = lstm ? initial("c0", c0, hidden_size) : Tensor();

  if (lengths.defined()) {
    GRAFT_CHECK(batched, "{}: lengths need a batched input, got shape {}", name, shape_str(input.shape()));
    GRAFT_CHECK(lengths.dtype() == kInt64 && lengths.dim() == 1,
                "{}: expected lengths as a 1-D int64 tensor, got {} of shape {}", name, dtype_name(lengths.dtype()),
                shape_str(lengths.shape()));
    if (enforce_sorted) {
      const std::vector<int64_t> l = lengths.to_vector<int64_t>();
      for (size_t b = 1; b < l.size(); ++b)
        GRAFT_CHECK(l[b] <= l[b - 1],
                    "{}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is True (got "
                    "lengths[{}] = {} after lengths[{}] = {}); pass enforce_sorted = false to accept any order",
                    name, b, l[b], b - 1, l[b - 1]);
    }
  }

  Tensor layer_input = x;
  std::vector<Tensor> h_n, c_n;
  for (int64_t l = 0; l < num_layers; ++l) {
    std::vector<Tensor> outputs;
    for (int64_t d = 0; d < directions; ++d) {
      const std::vector<Tensor>& w = flat_weights_[static_cast<size_t>(l * directions + d)];
      const int64_t k = l * directions + d;
      auto [y, hk, ck] = functional::rnn_layer(mode, layer_input, h.select(0, k), lstm ? c.select(0, k) : Tensor(), w[0],
                                               w[1], w[2], w[3], w[4], lengths, d == 1);
      outputs.push_back(y);
      h_n.push_back(hk);
      if (lstm) c_n.push_back(ck);
    }
    layer_input = directions == 2 ? cat(outputs, 2) : outputs[0];
    if (dropout > 0.0 && is_training() && l + 1 < num_layers) layer_input = functional::dropout(layer_input, dropout, true);
  }
  RecurrentOutput out{layer_input, stack(h_n, 0), lstm ? stack(c_n, 0) : Tensor()};
  if (!batched) {
    out.output = squeeze(out.output, 1);
    out.h_n = squeeze(out.h_n, 1);
    if (lstm) out.c_n = squeeze(out.c_n, 1);
  } else if (batch_first) {
    out.output = transpose(out.output, 0, 1);
  }
  return out;
}

RNN::RNN(int64_t input, int64_t hidden, int64_t layers, std::string nonlinearity_, bool bias, bool batch_first,
         double dropout, bool bidirectional, DType dtype)
    : RNNBase("RNN",
              [&] {
                GRAFT_CHECK(nonlinearity_ == "tanh" || nonlinearity_ == "relu",
                            "RNN: unknown nonlinearity '{}' (expected 'tanh' or 'relu')", nonlinearity_);
                return nonlinearity_ == "tanh" ? "RNN_TANH" : "RNN_RELU";
              }(),
              input, hidden, layers, bias, batch_first, dropout, bidirectional, 0, dtype),
      nonlinearity(std::move(nonlinearity_)) {}

RecurrentOutput RNN::forward(const Tensor& input, const Tensor& h0, const Tensor& lengths, bool enforce_sorted) {
  return run(input, h0, {}, lengths, enforce_sorted);
}

LSTM::LSTM(int64_t input, int64_t hidden, int64_t layers, bool bias, bool batch_first, double dropout,
           bool bidirectional, int64_t proj_size, DType dtype)
    : RNNBase("LSTM", "LSTM", input, hidden, layers, bias, batch_first, dropout, bidirectional, proj_size, dtype) {}

RecurrentOutput LSTM::forward(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths,
                              bool enforce_sorted) {
  return run(input, h0, c0, lengths, enforce_sorted);
}

GRU::GRU(int64_t input, int64_t hidden, int64_t layers, bool bias, bool batch_first, double dropout, bool bidirectional,
         DType dtype)
    : RNNBase("GRU", "GRU", input, hidden, layers, bias, batch_first, dropout, bidirectional, 0, dtype) {}

RecurrentOutput GRU::forward(const Tensor& input, const Tensor& h0, const Tensor& lengths, bool enforce_sorted) {
  return run(input, h0, {}, lengths, enforce_sorted);
}

}  // namespace graft::nn
