#pragma once
// Model surgery: swap modules inside a built model, keeping its weights.
//
//   replace_modules(model, predicate, factory)   every module for which predicate(name, module) is true
//   replace_modules<T>(model, factory)           every module of type T (or derived from it)
//
// The walk goes depth first in registration order, from the model's children down (the model itself is
// never replaced: it has no parent). A module that is replaced is not descended into, and the replacement
// is not visited. For each matching module, factory(name, old) builds the replacement, which then
// - receives the old module's state: every state-dict entry of the new module whose name and shape equal
//   an entry of the old one is copied from it (cast to the new entry's dtype); other entries keep what the
//   factory gave them. So a factory may build a fresh module and let the rule carry the weights, or copy
//   (or transform) weights itself and give them names or shapes the rule leaves alone. Pass
//   carry_state = false to skip the copy entirely.
// - takes the old module's training mode (train() / eval()).
// - is put into every slot that held the old module: a module shared by two parents (or held twice by one)
//   is replaced everywhere by one new module, so the sharing survives, and factory is called once for it,
//   with its first name.
// Returns the dotted names of all slots that were replaced, in walk order. A factory returning null fails;
// one returning the old module itself leaves that module in place, unlisted and not walked into. Every
// replacement is built before any is put in place: when a factory throws, the model is unchanged.
//
// The replacement lives in the parent's child slot. Everything that reaches children through their slots
// uses the new module at once: Sequential, ModuleList, graft's own modules, child(name), and the Child<T>
// handles register_module returns (a typed member `nn::Child<nn::MultiheadAttention> attn =
// register_module(...)` reaches the replacement, which must then be a MultiheadAttention too, as
// EagerMultiheadAttention is). The old module is retired: a reference to it kept elsewhere (a plain
// std::shared_ptr member taken at construction) raises a graft::Error naming the path when it is called,
// instead of silently running -- and training -- the old module.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/nn/module.h"

namespace graft::nn {

using ModulePredicate = std::function<bool(const std::string& name, Module& module)>;
using ModuleFactory = std::function<ModulePtr(const std::string& name, Module& old)>;

std::vector<std::string> replace_modules(Module& model, const ModulePredicate& predicate,
                                         const ModuleFactory& factory, bool carry_state = true);

template <class T, class Factory>
  requires std::is_base_of_v<Module, T>
std::vector<std::string> replace_modules(Module& model, Factory factory, bool carry_state = true) {
  return replace_modules(
      model, [](const std::string&, Module& m) { return dynamic_cast<T*>(&m) != nullptr; },
      [f = std::move(factory)](const std::string& name, Module& old) -> ModulePtr {
        return f(name, dynamic_cast<T&>(old));
      },
      carry_state);
}

/// Copies every state-dict entry of `from` whose name and shape match an entry of `to` (the rule above);
/// returns the names copied.
std::vector<std::string> copy_matching_state(const Module& from, Module& to);

}  // namespace graft::nn
