#include "graft/graph/dot.h"

#include <fmt/format.h>
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "graft/graph/atomic_file.h"
#include "graft/graph/node.h"
#include "graft/graph/scope.h"

namespace graft {

// ---------------------------------------------------------------- to_dot

namespace {

// torchviz's size_to_str: "(2, 3)", "(3)" for one dim, "()" for none.
std::string size_to_str(IntList shape) { return fmt::format("({})", fmt::join(shape.begin(), shape.end(), ", ")); }

// A DOT double-quoted string. Newlines become the label escape \n.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out + "\"";
}

class DotWriter {
 public:
  DotWriter(const std::map<std::string, Tensor>& named_parameters, const DotOptions& options) : options_(options) {
    for (const auto& [name, t] : named_parameters) {
      GRAFT_CHECK(t.defined(), "to_dot: parameter '{}' is an undefined tensor", name);
      param_names_.emplace(t.impl(), name);
    }
  }

  // torchviz's add_base_tensor: an output tensor, then the graph behind it.
  void add_output(const Tensor& t) {
    TensorImpl* impl = t.impl();
    if (!seen_.insert(impl).second) return;
    node(impl, var_label(*impl), "darkolivegreen1", 0);
    if (Node* fn = impl->grad_fn().get()) {
      add_nodes(fn);
      edge(fn, impl);
    }
  }

  std::string str() const {
    std::vector<std::string> lines;
    emit_cluster(0, lines, "\t");
    // torchviz's resize_graph: 0.15 inch per statement, at least 12 inches.
    const double content = static_cast<double>(statements_) * 0.15;
    std::string size = "12";
    if (content > 12) {
      size = fmt::format("{}", content);
      if (size.find_first_of(".e") == std::string::npos) size += ".0";  // as Python's str(float)
    }
    std::string out = "digraph {\n";
    out += fmt::format("\tgraph [size=\"{},{}\"]\n", size, size);
    out += "\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]\n";
    for (const std::string& line : lines) out += line;
    return out + "}\n";
  }

 private:
  // torchviz's add_nodes, with an explicit stack instead of recursion.
  void add_nodes(Node* root) {
    if (!seen_.insert(root).second) return;
    enter(root);
    struct Frame {
      Node* node;
      size_t next_input;
    };
    std::vector<Frame> stack{{root, 0}};
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.next_input == f.node->num_inputs()) {
        stack.pop_back();
        continue;
      }
      const Edge& e = f.node->next_edge(f.next_input++);
      if (!e.valid()) continue;
      Node* child = e.node.get();
      edge(child, f.node);
      if (seen_.insert(child).second) {
        enter(child);
        stack.push_back({child, 0});  // f is not used after this
      }
    }
  }

  // The statements for one backward node: itself, and for an AccumulateGrad its leaf tensor.
  void enter(Node* fn) {
    std::string label = fn->name();
    if (fn->num_outputs() > 0) {
      label += "\n";
      for (size_t i = 0; i < fn->num_outputs(); ++i)
        label += (i ? ", " : "") + size_to_str(fn->output_meta(i).shape);
    }
    const uint32_t scope = options_.cluster_by_scope ? fn->scope() : 0;
    node(fn, label, "lightgrey", scope);
    if (TensorImpl* leaf = fn->leaf()) {
      seen_.insert(leaf);
      node(leaf, var_label(*leaf), "lightblue", scope);
      edge(leaf, fn);
    }
  }

  // torchviz's get_var_name: "<parameter name>\n <size>".
  std::string var_label(const TensorImpl& t) const {
    auto it = param_names_.find(&t);
    return fmt::format("{}\n {}", it == param_names_.end() ? "" : it->second, size_to_str(t.shape()));
  }

  // ---- scopes: clusters, and boxes standing for a collapsed scope ----
  struct Cluster {
    ScopeInfo info;
    std::vector<std::string> nodes;    // statements drawn inside it (the top level's also holds every edge)
    std::vector<uint32_t> children;    // nested clusters, in order of appearance
    size_t collapsed_id = SIZE_MAX;    // the id of its box when it is collapsed
    size_t collapsed_count = 0;        // the graph nodes that box stands for
  };

  // The cluster a scope is drawn in (walking up past scopes deeper than max_depth), created on first use
  // together with its ancestors.
  uint32_t cluster_of(uint32_t scope) {
    if (scope == 0) return 0;
    ScopeInfo info = NodeScope::info(scope);
    if (options_.max_depth >= 0)
      while (info.depth > options_.max_depth) {
        scope = info.parent;
        if (scope == 0) return 0;
        info = NodeScope::info(scope);
      }
    if (!clusters_.count(scope)) {
      const uint32_t parent = cluster_of(info.parent);
      clusters_[scope].info = info;
      clusters_[parent].children.push_back(scope);
    }
    return scope;
  }

  bool collapsed(uint32_t cluster) const {
    return cluster != 0 && options_.max_depth >= 0 && clusters_.at(cluster).info.depth == options_.max_depth;
  }

  static std::string scope_title(const ScopeInfo& info) {
    return info.path.empty() ? info.label : fmt::format("{} ({})", info.path, info.label);
  }

  void emit_cluster(uint32_t id, std::vector<std::string>& out, const std::string& indent) const {
    auto it = clusters_.find(id);
    if (it == clusters_.end()) return;
    const Cluster& c = it->second;
    if (collapsed(id)) {
      out.push_back(fmt::format("{}{} [label={} fillcolor=lightyellow]\n", indent, c.collapsed_id,
                                quote(fmt::format("{}\n{} nodes", scope_title(c.info), c.collapsed_count))));
      return;
    }
    const std::string inner = id == 0 ? indent : indent + "\t";
    if (id != 0) {
      out.push_back(fmt::format("{}subgraph cluster_{} {{\n", indent, id));
      out.push_back(fmt::format("{}label={} style=rounded color=grey50 fontname=monospace fontsize=10\n", inner,
                                quote(scope_title(c.info))));
    }
    for (const std::string& n : c.nodes) out.push_back(inner + n);
    for (uint32_t child : c.children) emit_cluster(child, out, inner);
    if (id != 0) out.push_back(indent + "}\n");
  }

  // The DOT id that stands for `object`: its own, or its collapsed scope's box.
  size_t id(const void* object) {
    if (auto it = represented_by_.find(object); it != represented_by_.end()) return it->second;
    return ids_.emplace(object, ids_.size()).first->second;
  }

  void node(const void* object, const std::string& label, const char* fillcolor, uint32_t scope) {
    const uint32_t cluster = cluster_of(scope);
    if (collapsed(cluster)) {
      Cluster& c = clusters_[cluster];
      if (c.collapsed_id == SIZE_MAX) {
        c.collapsed_id = ids_.size();
        ids_.emplace(&c, c.collapsed_id);
        ++statements_;
      }
      represented_by_.emplace(object, c.collapsed_id);
      ++c.collapsed_count;
      return;
    }
    clusters_[cluster].nodes.push_back(fmt::format("{} [label={} fillcolor={}]\n", id(object), quote(label), fillcolor));
    ++statements_;
  }
  // Edges stay in traversal order among the top-level statements, as torchviz writes them (an input used
  // twice gives two edges); an edge touching a collapsed box is drawn once.
  void edge(const void* from, const void* to) {
    const bool boxed = represented_by_.count(from) || represented_by_.count(to);
    const size_t a = id(from), b = id(to);
    if (boxed && (a == b || !edge_set_.insert({a, b}).second)) return;  // inside one box, or drawn already
    clusters_[0].nodes.push_back(fmt::format("{} -> {}\n", a, b));
    ++statements_;
  }

  DotOptions options_;
  std::unordered_map<const TensorImpl*, std::string> param_names_;
  std::unordered_set<const void*> seen_;
  std::unordered_map<const void*, size_t> ids_;
  std::unordered_map<const void*, size_t> represented_by_;
  std::map<uint32_t, Cluster> clusters_;
  std::set<std::pair<size_t, size_t>> edge_set_;
  size_t statements_ = 0;
};

}  // namespace

std::string to_dot(const TensorList& outputs, const std::map<std::string, Tensor>& named_parameters,
                   const DotOptions& options) {
  GRAFT_CHECK(options.max_depth >= -1, "to_dot: max_depth must be -1 (no limit) or a depth >= 0, got {}",
              options.max_depth);
  DotWriter writer(named_parameters, options);
  for (size_t i = 0; i < outputs.size(); ++i) {
    GRAFT_CHECK(outputs[i].defined(), "to_dot: output {} is an undefined tensor", i);
    writer.add_output(outputs[i]);
  }
  return writer.str();
}

// ---------------------------------------------------------------- render_dot

namespace {

// Graphviz keeps global state (its error hook, the parser): one render at a time.
std::mutex& graphviz_mutex() {
  static std::mutex m;
  return m;
}

// Graphviz reports errors through a process-wide callback; it collects them here while the mutex is held.
std::string& graphviz_errors() {
  static std::string errors;
  return errors;
}
int collect_graphviz_error(char* message) {
  graphviz_errors() += message;
  return 0;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// One Graphviz context for the life of the process, never freed. A context per render (gvFreeContext
// after each) would be tidier, but Graphviz 2.43 does not allow it: its pango plugin remembers the last
// font name by pointer into the context's font cache, so the first label measured after a context is
// freed reads freed memory (AddressSanitizer reports it), and gvFreeContext loses the buffer holding the
// plugin configuration (LeakSanitizer reports it). Kept alive, everything stays reachable.
GVC_t* graphviz_context() {
  static GVC_t* const gvc = gvContext();
  return gvc;
}

// Owns the graph of one render, releasing it in the right order on every path.
struct GraphvizRender {
  GVC_t* gvc = nullptr;
  Agraph_t* graph = nullptr;
  bool laid_out = false;
  ~GraphvizRender() {
    if (laid_out) gvFreeLayout(gvc, graph);
    if (graph) agclose(graph);
  }
};

}  // namespace

void render_dot(const std::string& dot, const std::string& path) {
  const std::filesystem::path target(path);
  std::string format = target.extension().string();
  if (!format.empty()) format.erase(0, 1);
  std::transform(format.begin(), format.end(), format.begin(), [](unsigned char c) { return std::tolower(c); });
  GRAFT_CHECK(format == "svg" || format == "png" || format == "pdf",
              "render_dot: unsupported format '{}' of '{}' (expected a .svg, .png or .pdf file)", format, path);

  std::lock_guard<std::mutex> lock(graphviz_mutex());
  graphviz_errors().clear();
  agusererrf previous_handler = agseterrf(collect_graphviz_error);
  struct RestoreHandler {
    agusererrf previous;
    ~RestoreHandler() { agseterrf(previous); }
  } restore{previous_handler};

  GraphvizRender r;
  r.gvc = graphviz_context();
  GRAFT_CHECK(r.gvc != nullptr, "render_dot: cannot create a Graphviz context");
  r.graph = agmemread(dot.c_str());
  GRAFT_CHECK(r.graph != nullptr, "render_dot: invalid DOT: {}",
              graphviz_errors().empty() ? "Graphviz could not parse it" : trimmed(graphviz_errors()));
  GRAFT_CHECK(gvLayout(r.gvc, r.graph, "dot") == 0, "render_dot: Graphviz could not lay out the graph: {}",
              trimmed(graphviz_errors()));
  r.laid_out = true;

  AtomicFileWriter out(path, "render_dot");
  const int rc = gvRenderFilename(r.gvc, r.graph, format.c_str(), out.temp_path().c_str());
  std::error_code ec;
  GRAFT_CHECK(rc == 0 && std::filesystem::file_size(out.temp_path(), ec) > 0 && !ec,
              "render_dot: Graphviz could not render '{}' as {}: {}", path, format,
              graphviz_errors().empty() ? "no output was written" : trimmed(graphviz_errors()));
  out.commit();
}

}  // namespace graft
