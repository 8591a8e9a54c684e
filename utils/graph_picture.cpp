#include "graft/utils/graph_picture.h"

#include "graft/graph/dot.h"

#include "graft/utils/plot.h"

namespace graft::utils {

void write_graph(const TensorList& outputs, const std::map<std::string, Tensor>& named_parameters,
                 const std::string& stem, const DotOptions& options) {
  const std::string dot = to_dot(outputs, named_parameters, options);
  write_text_file(dot, stem + ".dot");
  render_dot(dot, stem + ".svg");
}

void write_graph(const TensorList& outputs, const nn::Module& model, const std::string& stem,
                 const DotOptions& options) {
  std::map<std::string, Tensor> named;
  for (const auto& [name, p] : model.named_parameters()) named.emplace(name, p);
  write_graph(outputs, named, stem, options);
}

}  // namespace graft::utils
