#pragma once
// The torch.nn of graft: modules, initialisers and weight files.
#include "graft/nn/init.h"
#include "graft/nn/module.h"
#include "graft/nn/modules/activation.h"
#include "graft/nn/modules/batch_norm.h"
#include "graft/nn/modules/container.h"
#include "graft/nn/modules/dropout.h"
#include "graft/nn/modules/embedding.h"
#include "graft/nn/modules/linear.h"
#include "graft/nn/modules/normalization.h"
#include "graft/nn/serialization.h"
#include "graft/ops/linear.h"
