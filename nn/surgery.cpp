#include "graft/nn/surgery.h"

#include <map>
#include <set>

#include "graft/graph/grad_mode.h"

namespace graft::nn {

namespace {

class Surgeon {
 public:
  Surgeon(const ModulePredicate& predicate, const ModuleFactory& factory, bool carry_state)
      : predicate_(predicate), factory_(factory), carry_state_(carry_state) {}

  void visit(Module& parent, const std::string& prefix) {
    if (!descended_.insert(&parent).second) return;  // a module shared by two parents is walked once
    for (const auto& [name, child] : parent.named_children()) {
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      ModulePtr replacement = replacement_for(path, child);
      if (replacement) {
        swaps_.push_back({&parent, name, replacement});
        replaced_.push_back(path);
      } else if (!replacements_.count(child.get())) {
        visit(*child, path);
      }
    }
  }

  // Puts the replacements in place. Nothing is swapped before every factory has run, so a factory that
  // throws leaves the model as it was.
  // A replaced module is retired (nn/module.h): a reference to it kept outside the model's slots (a
  // shared_ptr member of its parent, say) raises when called instead of silently running the old module.
  std::vector<std::string> apply() && {
    std::map<const Module*, std::pair<ModulePtr, std::string>> retired;  // old module -> (it, first path)
    for (size_t i = 0; i < swaps_.size(); ++i) {
      const Swap& s = swaps_[i];
      for (const auto& slot : s.parent->child_slots()) {
        if (slot->name != s.name) continue;
        retired.try_emplace(slot->module.get(), slot->module, replaced_[i]);
        slot->module = s.replacement;
        s.replacement->reactivate();
      }
    }
    for (auto& [ptr, old] : retired) {
      auto it = replacements_.find(ptr);
      old.first->retire(old.second, it != replacements_.end() && it->second ? it->second->type_name() : "?");
    }
    return std::move(replaced_);
  }

 private:
  // The module to put in place of `old` at `path`, or null to keep it. Decided once per module.
  ModulePtr replacement_for(const std::string& path, const ModulePtr& old) {
    if (auto it = replacements_.find(old.get()); it != replacements_.end()) return it->second;
    if (descended_.count(old.get()) || !predicate_(path, *old)) return nullptr;
    ModulePtr fresh = factory_(path, *old);
    GRAFT_CHECK(fresh != nullptr, "replace_modules: the factory returned a null module for '{}' ({})", path,
                old->type_name());
    if (fresh == old) {
      replacements_[old.get()] = nullptr;  // kept as it is, and not walked into
      return nullptr;
    }
    if (carry_state_) copy_matching_state(*old, *fresh);
    fresh->train(old->is_training());
    replacements_[old.get()] = fresh;
    return fresh;
  }

  const ModulePredicate& predicate_;
  const ModuleFactory& factory_;
  bool carry_state_;
  std::map<const Module*, ModulePtr> replacements_;  // matched modules (null: the factory kept it)
  std::set<const Module*> descended_;
  struct Swap {
    Module* parent;
    std::string name;
    ModulePtr replacement;
  };
  std::vector<Swap> swaps_;
  std::vector<std::string> replaced_;
};

}  // namespace

std::vector<std::string> replace_modules(Module& model, const ModulePredicate& predicate,
                                         const ModuleFactory& factory, bool carry_state) {
  GRAFT_CHECK(predicate != nullptr, "replace_modules: the predicate is empty");
  GRAFT_CHECK(factory != nullptr, "replace_modules: the factory is empty");
  Surgeon surgeon(predicate, factory, carry_state);
  surgeon.visit(model, "");
  return std::move(surgeon).apply();
}

std::vector<std::string> copy_matching_state(const Module& from, Module& to) {
  const StateDict source = from.state_dict();
  std::vector<std::string> copied;
  NoGradGuard no_grad;
  for (auto& [name, target] : to.state_dict()) {
    for (const auto& [source_name, value] : source) {
      if (source_name != name || !(value.shape() == target.shape())) continue;
      Tensor alias = target;  // a detached alias of the parameter's storage
      alias.copy_(value);
      copied.push_back(name);
      break;
    }
  }
  return copied;
}

}  // namespace graft::nn
