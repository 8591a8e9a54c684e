// nn::Module: registration, naming, traversal, modes, state dicts, hooks and printing.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "named_keys.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::keys;

namespace {

// A two-level model: Block { Linear fc; buffer running }, Model { Block a, b; Linear head; }.
class Block : public Module {
 public:
  Block() : Module("Block") {
    fc = register_module("fc", std::make_shared<Linear>(3, 3));
    running = register_buffer("running", zeros({3}));
    scratch = register_buffer("scratch", zeros({1}), /*persistent=*/false);
  }
  Tensor forward(const Tensor& x) override { return fc(x); }
  Child<Linear> fc;
  Tensor running, scratch;
};

class Model : public Module {
 public:
  Model() : Module("Model") {
    a = register_module("a", std::make_shared<Block>());
    b = register_module("b", std::make_shared<Block>());
    head = register_module("head", std::make_shared<Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return head(b(a(x))); }
  Child<Block> a, b;
  Child<Linear> head;
};

TEST(Module, NamesParametersWithDottedPathsInRegistrationOrder) {
  auto m = std::make_shared<Model>();
  EXPECT_EQ(keys(m->named_parameters()),
            (std::vector<std::string>{"a.fc.weight", "a.fc.bias", "b.fc.weight", "b.fc.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(m->parameters().size(), 6u);
  EXPECT_EQ(m->parameters(/*recurse=*/false).size(), 0u);
  EXPECT_EQ(keys(m->named_buffers()), (std::vector<std::string>{"a.running", "a.scratch", "b.running", "b.scratch"}));
  std::vector<std::string> module_names;
  for (auto& [name, mod] : m->named_modules()) module_names.push_back(name);
  EXPECT_EQ(module_names, (std::vector<std::string>{"", "a", "a.fc", "b", "b.fc", "head"}));
  EXPECT_EQ(m->children().size(), 3u);
}

TEST(Module, ASharedModuleIsCountedOnceButCanSitInTwoContainers) {
  auto shared = std::make_shared<Linear>(2, 2);
  auto seq = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{shared, shared});
  EXPECT_EQ(seq->parameters().size(), 2u);
  EXPECT_EQ(seq->state_dict().size(), 4u);  // the state dict lists both names, as PyTorch's does
  auto other = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{shared});
  EXPECT_EQ(other->parameters()[0].impl(), seq->parameters()[0].impl());
}

TEST(Module, StateDictListsOwnParametersAndPersistentBuffersBeforeChildren) {
  // PyTorch's order: a module's own parameters, then its persistent buffers, then each child's entries.
  auto m = std::make_shared<Model>();
  EXPECT_EQ(keys(m->state_dict()), (std::vector<std::string>{"a.running", "a.fc.weight", "a.fc.bias", "b.running",
                                                             "b.fc.weight", "b.fc.bias", "head.weight", "head.bias"}));
  for (auto& [k, t] : m->state_dict()) EXPECT_FALSE(t.requires_grad()) << k;
}

TEST(Module, LoadStateDictCopiesValues) {
  auto src = std::make_shared<Model>(), dst = std::make_shared<Model>();
  dst->load_state_dict(src->state_dict());
  auto s = src->state_dict(), d = dst->state_dict();
  for (size_t i = 0; i < s.size(); ++i) EXPECT_TRUE(equal(s[i].second, d[i].second)) << s[i].first;
  EXPECT_TRUE(dst->head->weight.requires_grad());
}

TEST(Module, LoadStateDictListsEveryProblemAndChangesNothingOnFailure) {
  auto m = std::make_shared<Model>();
  Tensor before = m->head->weight.clone();
  StateDict state = m->state_dict();
  state.erase(state.begin() + 1);                                  // missing a.fc.weight
  state.emplace_back("extra.weight", zeros({1}));                  // unexpected
  for (auto& [k, t] : state)
    if (k == "head.weight") t = zeros({5, 5});                     // size mismatch
    else if (k == "head.bias") t = full(t.shape(), 7.0);           // a valid entry that must not be applied
  try {
    m->load_state_dict(state);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Missing key(s): \"a.fc.weight\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("Unexpected key(s): \"extra.weight\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("size mismatch for head.weight: copying a param with shape [5, 5] from checkpoint, the shape in current model is [2, 3]"),
              std::string::npos) << msg;
  }
  EXPECT_TRUE(equal(m->head->weight, before));
  EXPECT_FALSE(equal(m->head->bias, full({2}, 7.0)));
}

TEST(Module, NonStrictLoadIgnoresMissingAndUnexpectedKeysButNotShapes) {
  auto m = std::make_shared<Model>();
  StateDict partial{{"head.bias", full({2}, 3.0)}, {"unused", zeros({1})}};
  m->load_state_dict(partial, /*strict=*/false);
  EXPECT_TRUE(equal(m->head->bias, full({2}, 3.0)));
  EXPECT_THROW(m->load_state_dict({{"head.bias", zeros({3})}}, false), Error);
}

TEST(Module, TrainAndEvalReachEveryDescendant) {
  auto m = std::make_shared<Model>();
  EXPECT_TRUE(m->a->fc->is_training());
  m->eval();
  for (auto& mod : m->modules()) EXPECT_FALSE(mod->is_training());
  m->train();
  EXPECT_TRUE(m->b->fc->is_training());
}

TEST(Module, ToCastsInPlaceSoEveryHandleSeesIt) {
  auto m = std::make_shared<Model>();
  Tensor handle = m->head->weight;
  m->to(kFloat64);
  EXPECT_EQ(handle.dtype(), kFloat64);
  EXPECT_EQ(m->a->running.dtype(), kFloat64);
  Tensor y = m->forward(ones({4, 3}, kFloat64));
  EXPECT_EQ(y.dtype(), kFloat64);
}

TEST(Module, ZeroGradZeroesOrDropsGradients) {
  auto m = std::make_shared<Model>();
  m->forward(ones({2, 3})).sum().backward();
  ASSERT_TRUE(m->head->weight.grad().defined());
  m->zero_grad();
  EXPECT_TRUE(equal(m->head->weight.grad(), zeros({2, 3})));
  m->zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(m->head->weight.grad().defined());
}

TEST(Module, ApplyVisitsChildrenBeforeParents) {
  auto m = std::make_shared<Model>();
  std::vector<std::string> order;
  m->apply([&](Module& mod) { order.push_back(mod.type_name()); });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "Block", "Linear", "Block", "Linear", "Model"}));
}

TEST(Module, ReplaceModuleSwapsAChildByDottedPath) {
  auto m = std::make_shared<Model>();
  auto replacement = std::make_shared<Linear>(3, 3, /*bias=*/false);
  ModulePtr old = m->replace_module("b.fc", replacement);
  EXPECT_EQ(old->type_name(), "Linear");
  EXPECT_EQ(m->submodule("b.fc").get(), replacement.get());
  EXPECT_EQ(m->parameters().size(), 5u);
  EXPECT_THROW(m->replace_module("b.nothing", replacement), Error);
}

TEST(Module, RegistrationRejectsBadNames) {
  Module m;
  m.register_parameter("w", zeros({1}));
  EXPECT_THROW(m.register_parameter("w", zeros({1})), Error);
  EXPECT_THROW(m.register_buffer("a.b", zeros({1})), Error);
  EXPECT_THROW(m.register_parameter("", zeros({1})), Error);
  EXPECT_THROW(m.register_parameter("ints", arange(3)), Error);  // only floating tensors require grad
  EXPECT_THROW(m.forward(zeros({1})), Error);
}

TEST(Module, ForwardHooksRunAroundForward) {
  auto m = std::make_shared<Model>();
  std::vector<std::string> events;
  size_t pre = m->a->register_forward_pre_hook([&](Module&) { events.push_back("pre a"); });
  m->a->register_forward_hook([&](Module&) { events.push_back("post a"); });
  m->head->register_forward_pre_hook([&](Module&) { events.push_back("pre head"); });
  m->forward(ones({1, 3}));
  EXPECT_EQ(events, (std::vector<std::string>{"pre a", "post a", "pre head"}));
  m->a->remove_hook(pre);
  events.clear();
  m->forward(ones({1, 3}));
  EXPECT_EQ(events, (std::vector<std::string>{"post a", "pre head"}));
}

TEST(Module, PrintsLikePyTorch) {
  auto seq = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<Linear>(4, 3), std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(3, 2, false)})});
  EXPECT_EQ(seq->repr(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
            "  (1): Sequential(\n"
            "    (0): Linear(in_features=3, out_features=2, bias=False)\n"
            "  )\n"
            ")");
}

}  // namespace
