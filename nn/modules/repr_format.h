#pragma once
// Values formatted as Python's repr prints them, for modules' extra_repr (so graft prints a model with the
// same text as PyTorch): 1e-05, 0.1, 1.0, True, None, 'tanh', (4,), (3, 4).
#include <optional>
#include <string>

#include "graft/graph/array_ref.h"

namespace graft::nn::repr_format {

std::string py_float(double value);               // 1e-05, 0.1, 1.0, inf, nan
std::string py_float(std::optional<double> value);  // None when empty
/// A number the user may have given as an int in Python (Softplus(beta=1)): integral values print as ints.
std::string py_number(double value);
std::string py_bool(bool value);                  // True, False
std::string py_str(const std::string& value);     // 'value'
std::string py_tuple(IntList values);             // (4,), (3, 4)

}  // namespace graft::nn::repr_format
