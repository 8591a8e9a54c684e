#pragma once
// Named scopes for the nodes of the graph. While a NodeScope is alive on a thread, every node created there
// records the scope's id, so a picture of the graph can group the nodes by the part of the program that made
// them (to_dot's clusters). nn::Module calls open one per module call, named by the module's path in its
// model ("blocks.3.attn") and labelled by its type ("GroupedQueryAttention"); a user may open their own
// around any block of code.
#include <cstdint>
#include <string>
#include <string_view>

namespace graft {

/// What a scope id stands for. Scope 0 is "no scope" (path "", depth -1).
struct ScopeInfo {
  std::string path;    ///< dotted path, e.g. "blocks.3.attn"; "" for a root scope
  std::string label;   ///< e.g. the module's type name
  uint32_t parent = 0; ///< the enclosing scope (0: none)
  int depth = -1;      ///< 0 for a root scope, 1 for its children, ...
};

/// Opens a scope, child of the current one, for the lifetime of this object (thread-local, nestable).
/// `name` is appended to the enclosing scope's path (an empty name at the top opens a root scope).
class NodeScope {
 public:
  NodeScope(std::string_view name, std::string_view label);
  ~NodeScope();
  NodeScope(const NodeScope&) = delete;
  NodeScope& operator=(const NodeScope&) = delete;

  /// The innermost open scope on this thread (0 when none).
  static uint32_t current();
  /// The description of a scope id. @throws graft::Error for an id never handed out.
  static ScopeInfo info(uint32_t id);

 private:
  uint32_t previous_;
};

}  // namespace graft
