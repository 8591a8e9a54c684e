#pragma once
// graft: a small, fast define-by-run computational graph with reverse-mode autograd.
// This header pulls in the whole public API.
#include "graft/autograd/engine.h"
#include "graft/autograd/grad_mode.h"
#include "graft/graph/factory.h"
#include "graft/graph/serialize.h"
#include "graft/graph/tensor.h"
#include "graft/ops/indexing.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"
#include "graft/nn/utils/clip_grad.h"
#include "graft/optim/adam.h"
#include "graft/optim/adamw.h"
#include "graft/optim/lr_scheduler.h"
#include "graft/optim/sgd.h"
