#include "graft/nn/surgery_mha.h"

#include "graft/nn/modules/eager_multihead_attention.h"
#include "graft/nn/modules/multihead_attention.h"
#include "graft/nn/surgery.h"

namespace graft::nn {

std::vector<std::string> replace_mha_with_eager(Module& model, bool use_in_proj) {
  GRAFT_CHECK(!dynamic_cast<MultiheadAttention*>(&model),
              "replace_mha_with_eager: the model itself is a MultiheadAttention, which has no parent to be replaced in; "
              "use EagerMultiheadAttention::from(model, use_in_proj)");
  std::vector<std::string> replaced;  // the factory runs once per module, with its first name
  replace_modules(
      model,
      [](const std::string&, Module& m) {
        return dynamic_cast<MultiheadAttention*>(&m) && !dynamic_cast<EagerMultiheadAttention*>(&m);
      },
      [&](const std::string& path, Module& m) -> ModulePtr {
        auto& mha = dynamic_cast<MultiheadAttention&>(m);
        try {
          ModulePtr eager = EagerMultiheadAttention::from(mha, use_in_proj);
          replaced.push_back(path);
          return eager;
        } catch (const Error& e) {
          GRAFT_FAIL("replace_mha_with_eager: cannot replace '{}' (nothing was replaced): {}", path, e.what());
        }
      },
      /*carry_state=*/false);  // from() copies the weights under their new names
  return replaced;
}

}  // namespace graft::nn
