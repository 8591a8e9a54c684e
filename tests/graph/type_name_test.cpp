// short_type_name: the class name errors and custom-function nodes show.
#include <gtest/gtest.h>

#include <vector>

#include "graft/graph/type_name.h"

namespace user_code {
struct Softplus {};
template <class T>
struct Wrapper {};
}  // namespace user_code

namespace {
struct Local {};
}  // namespace

TEST(ShortTypeName, DropsTheNamespaces) {
  EXPECT_EQ(graft::short_type_name(typeid(user_code::Softplus)), "Softplus");
  EXPECT_EQ(graft::short_type_name(typeid(Local)), "Local");  // "(anonymous namespace)::" dropped too
  EXPECT_EQ(graft::short_type_name(typeid(int)), "int");
}

TEST(ShortTypeName, KeepsTemplateArgumentsWhole) {
  EXPECT_EQ(graft::short_type_name(typeid(user_code::Wrapper<user_code::Softplus>)), "Wrapper<user_code::Softplus>");
}
