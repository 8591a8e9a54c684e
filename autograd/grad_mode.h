#pragma once
// Grad mode: GradMode::is_enabled(), NoGradGuard, EnableGradGuard, AutoGradMode (thread-local, as in PyTorch).
#include "graft/graph/grad_mode.h"
