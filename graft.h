#pragma once
// graft: a small, fast define-by-run computational graph with reverse-mode autograd.
// This header pulls in the whole public API.
#include "graft/autograd/engine.h"
#include "graft/autograd/grad_mode.h"
#include "graft/autograd/gradcheck.h"
#include "graft/graph/dot.h"
#include "graft/graph/factory.h"
#include "graft/graph/node.h"
#include "graft/graph/tensor.h"
#include "graft/graph/warning.h"
#include "graft/ops/indexing.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"
