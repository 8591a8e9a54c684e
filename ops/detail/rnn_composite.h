#pragma once
// rnn_layer's backward pass written with differentiable ops, for a recorded backward (create_graph): the
// steps are replayed from the layer's inputs with ops, then back-propagated through time by hand, with ops,
// so the gradients are functions of the inputs that can be differentiated again. Internal to ops/.
#include <vector>

#include "graft/graph/tensor.h"
#include "graft/ops/kernels/rnn.h"

namespace graft::detail {

// The layer's inputs, as rnn_layer takes them (c0, biases and w_hr may be undefined).
struct RnnLayerInputs {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr;
};

// Gradients of x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr (undefined where the input is undefined) for the
// gradients of output, h_n and c_n (each may be undefined).
TensorList rnn_layer_backward_composite(kernels::RnnMode mode, const RnnLayerInputs& in, const kernels::RnnSequence& seq,
                                        const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n);

}  // namespace graft::detail
