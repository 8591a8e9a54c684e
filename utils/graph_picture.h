#pragma once
// A model's autograd graph as pictures: <stem>.dot (graft::to_dot) and <stem>.svg (graft::render_dot).
#include <map>
#include <string>

#include "graft/graph/dot.h"
#include "graft/graph/tensor.h"
#include "graft/nn/module.h"

namespace graft::utils {

/// Writes the graph behind `outputs` to `stem`.dot and `stem`.svg; parameters are labelled by their names,
/// nodes grouped by the module that created them (see to_dot's DotOptions).
/// @throws graft::Error when a file cannot be written or Graphviz fails.
void write_graph(const TensorList& outputs, const std::map<std::string, Tensor>& named_parameters,
                 const std::string& stem, const DotOptions& options = {});
/// The same, naming the leaves after a module's parameters ("0.weight", "2.bias", ...).
void write_graph(const TensorList& outputs, const nn::Module& model, const std::string& stem,
                 const DotOptions& options = {});

}  // namespace graft::utils
