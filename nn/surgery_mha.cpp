#include "graft/nn/surgery_mha.h"

#include <functional>
#include <map>
#include <set>

#include "graft/nn/modules/eager_multihead_attention.h"
#include "graft/nn/modules/multihead_attention.h"

namespace graft::nn {

std::vector<std::string> replace_mha_with_eager(Module& model, bool use_in_proj) {
  // First pass: find every slot holding a MultiheadAttention and build its replacement (this may throw).
  struct Slot {
    Module* parent;
    std::string name;
    const Module* old;
  };
  std::vector<Slot> slots;
  std::vector<std::string> replaced;
  std::map<const Module*, ModulePtr> eager_of;
  std::set<const Module*> visited;
  std::function<void(Module&, const std::string&)> walk = [&](Module& m, const std::string& prefix) {
    if (!visited.insert(&m).second) return;  // a shared container: its slots are already listed
    for (const auto& [name, child] : m.named_children()) {
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      if (auto* mha = dynamic_cast<MultiheadAttention*>(child.get())) {
        if (!eager_of.count(mha)) {
          try {
            eager_of[mha] = EagerMultiheadAttention::from(*mha, use_in_proj);
          } catch (const Error& e) {
            GRAFT_FAIL("replace_mha_with_eager: cannot replace '{}' (nothing was replaced): {}", path, e.what());
          }
          replaced.push_back(path);
        }
        slots.push_back({&m, name, mha});
      } else {
        walk(*child, path);
      }
    }
  };
  GRAFT_CHECK(!dynamic_cast<MultiheadAttention*>(&model),
              "replace_mha_with_eager: the model itself is a MultiheadAttention, which has no parent to be replaced in; "
              "use EagerMultiheadAttention::from(model, use_in_proj)");
  walk(model, "");
  // Second pass: swap.
  for (const Slot& s : slots) s.parent->replace_module(s.name, eager_of.at(s.old));
  return replaced;
}

}  // namespace graft::nn
