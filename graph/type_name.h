#pragma once
// The readable name of a C++ type, for error messages and node names.
#include <string>
#include <typeinfo>

namespace graft {

/// The unqualified, demangled class name of a type: "Linear" for graft::nn::Linear, "Softplus" for a
/// user's `struct Softplus`. Falls back to the mangled name when it cannot be demangled.
std::string short_type_name(const std::type_info& type);

}  // namespace graft
