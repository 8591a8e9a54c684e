#pragma once
// The model's autograd graph as pictures: <stem>.dot (graft::to_dot) and <stem>.svg (graft::render_dot).
#include <map>
#include <string>

#include <graft/graph/tensor.h>
#include <graft/nn/module.h>

namespace graft::examples {

// Writes the graph behind `outputs` to <stem>.dot and <stem>.svg; parameters are labelled by their names.
void write_graph(const TensorList& outputs, const std::map<std::string, Tensor>& named_parameters,
                 const std::string& stem);
// The same, naming the leaves after a module's parameters ("0.weight", "2.bias", ...).
void write_graph(const TensorList& outputs, const nn::Module& model, const std::string& stem);

}  // namespace graft::examples
