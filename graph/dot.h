#pragma once
// Pictures of the autograd graph: to_dot writes it in Graphviz's DOT language the way torchviz's make_dot
// does, and render_dot lays it out and renders it with Graphviz's library.
#include <map>
#include <string>

#include "graft/graph/tensor.h"

namespace graft {

/// The backward graph of `outputs` as DOT, after torchviz's make_dot(outputs, params=named_parameters):
///   - every backward node is a grey box labelled with its name and the shapes of its forward outputs
///     (e.g. "MulBackward0\n(2, 3)");
///   - the leaf behind each AccumulateGrad is a light blue box labelled with its name in
///     `named_parameters` (when it is there) and its shape, with an edge into its AccumulateGrad;
///   - every output tensor is a green box with its shape, with an edge from its grad_fn;
///   - an edge runs from each node's next function to the node, as torchviz draws them.
/// Node ids are numbers given in traversal order from the outputs (never addresses), so two dumps of the
/// same graph, or of two graphs built the same way, are byte-identical. The traversal is iterative, so
/// graphs of any depth are fine. Differences from torchviz: backward nodes also show their output shapes,
/// and views are not linked to their base tensors (graft does not track view bases).
///
/// Nodes created inside a NodeScope (graph/scope.h) -- every module call opens one, named by the module's path
/// in its model -- are grouped into Graphviz clusters labelled "path (Type)", nested as the scopes are. With
/// `max_depth` = d >= 0, a scope at depth d is drawn as ONE box ("blocks.3 (TransformerBlock): 57 nodes")
/// standing for everything inside it, so a 12-layer model fits on one page at depth 1 or 2.
struct DotOptions {
  bool cluster_by_scope = true;  ///< group nodes by the module (scope) that created them
  int max_depth = -1;            ///< -1: draw every node; d >= 0: collapse each scope at depth d into one box
};

/// @throws graft::Error for an undefined output or parameter, or max_depth < -1.
std::string to_dot(const TensorList& outputs, const std::map<std::string, Tensor>& named_parameters = {},
                   const DotOptions& options = {});

/// Lays `dot` out with Graphviz's "dot" engine and renders it to `path`, in the format named by its
/// extension: .svg, .png or .pdf. The picture is written through an AtomicFileWriter (graph/atomic_file.h):
/// a failed render leaves an existing file untouched, a symlink is written through, and a target that is not
/// a regular file is refused.
/// @param dot the graph in DOT. @param path the picture to write.
/// @throws graft::Error for an unknown extension, invalid DOT, or a failed render.
void render_dot(const std::string& dot, const std::string& path);

}  // namespace graft
