#pragma once
// The kernels iterate and copy with the tensor core's strided loops (graph/loops.h, graph/copy.h), as if
// those were their own.
#include <cmath>

#include "graft/graph/copy.h"
#include "graft/graph/half.h"
#include "graft/graph/loops.h"

namespace graft::kernels {
using namespace graft::loops;

// NaN test for every element type: never true for integers and bool; 16-bit floats are widened first.
template <class T>
bool is_nan(T v) {
  if constexpr (is_floating_type_v<T>) return std::isnan(static_cast<opmath_t<T>>(v));
  else return false;
}

}  // namespace graft::kernels
