#include "graft/graph/scope.h"

#include <deque>
#include <map>
#include <mutex>
#include <tuple>

#include "graft/graph/error.h"

namespace graft {

namespace {

// Scopes are interned: the same (parent, name, label) always gets the same id, so a model called every step
// adds nothing after its first step.
struct Registry {
  std::mutex mutex;
  std::deque<ScopeInfo> scopes{ScopeInfo{}};  // id 0: no scope
  std::map<std::tuple<uint32_t, std::string, std::string>, uint32_t> ids;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: nodes may outlive static destruction order
  return *r;
}

thread_local uint32_t current_scope = 0;

uint32_t intern(uint32_t parent, std::string_view name, std::string_view label) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto key = std::make_tuple(parent, std::string(name), std::string(label));
  if (auto it = r.ids.find(key); it != r.ids.end()) return it->second;
  const ScopeInfo& p = r.scopes[parent];
  ScopeInfo info;
  info.path = p.path.empty() ? std::string(name) : name.empty() ? p.path : p.path + "." + std::string(name);
  info.label = std::string(label);
  info.parent = parent;
  info.depth = parent == 0 ? (name.empty() ? 0 : 1) : p.depth + (name.empty() ? 0 : 1);
  const auto id = static_cast<uint32_t>(r.scopes.size());
  r.scopes.push_back(std::move(info));
  r.ids.emplace(std::move(key), id);
  return id;
}

}  // namespace

NodeScope::NodeScope(std::string_view name, std::string_view label) : previous_(current_scope) {
  current_scope = intern(previous_, name, label);
}

NodeScope::~NodeScope() { current_scope = previous_; }

uint32_t NodeScope::current() { return current_scope; }

ScopeInfo NodeScope::info(uint32_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  GRAFT_CHECK(id < r.scopes.size(), "NodeScope::info: no scope has id {}", id);
  return r.scopes[id];
}

}  // namespace graft
