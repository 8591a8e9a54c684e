#pragma once
// The torch.nn of graft: modules, initialisers and weight files.
#include "graft/nn/init.h"
#include "graft/nn/module.h"
#include "graft/nn/modules/container.h"
#include "graft/nn/modules/cross_attention.h"
#include "graft/nn/modules/eager_multihead_attention.h"
#include "graft/nn/modules/linear.h"
#include "graft/nn/modules/multihead_attention.h"
#include "graft/nn/modules/self_attention.h"
#include "graft/nn/serialization.h"
#include "graft/nn/surgery_mha.h"
#include "graft/ops/linear.h"
