#include "graft/autograd/gradcheck.h"

#include <cmath>

#include "graft/autograd/engine.h"
#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"
#include "graft/graph/warning.h"

namespace graft::autograd {

namespace {

// Row-major logical index of element `flat` in `shape`, as "(i, j, k)".
std::string index_str(IntList shape, int64_t flat) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return fmt::format("({})", fmt::join(idx.begin(), idx.end(), ", "));
}

// Addresses of every element of t, in logical order.
std::vector<char*> element_addresses(const Tensor& t) {
  std::vector<char*> out;
  graft::detail::for_each_element(*t.impl(), [&](const char* p) { out.push_back(const_cast<char*>(p)); });
  return out;
}

double read(const char* p, DType dt) { return graft::detail::read_as_double(p, dt); }
void write(char* p, DType dt, double v) {
  if (dt == kFloat64) *reinterpret_cast<double*>(p) = v;
  else *reinterpret_cast<float*>(p) = static_cast<float>(v);
}

bool differentiable(const Tensor& t) { return t.defined() && is_floating(t.dtype()) && t.requires_grad(); }

std::vector<double> flatten_outputs(const TensorList& outs) {
  std::vector<double> v;
  for (const Tensor& o : outs)
    if (o.defined() && is_floating(o.dtype()))
      for (double x : o.to_vector<double>()) v.push_back(x);
  return v;
}

struct Checker {
  const DifferentiableFunction& fn;
  const TensorList& inputs;
  const GradcheckOptions& opt;
  std::vector<size_t> wrt;  // inputs that require grad

  bool fail(const std::string& message) const {
    if (opt.raise_exception) throw Error("gradcheck: " + message);
    warn("gradcheck: " + message);
    return false;
  }

  // Columns of d(flattened outputs)/d(input i), by central differences.
  std::vector<std::vector<double>> numerical(size_t i) const {
    const Tensor& x = inputs[i];
    std::vector<char*> addr = element_addresses(x);
    std::vector<std::vector<double>> cols;
    // fn runs with grad mode as the caller has it: gradgradcheck's fn itself calls backward. The raw
    // writes below bypass the version counter on purpose; the value is restored exactly.
    for (char* p : addr) {
      const double orig = read(p, x.dtype());
      write(p, x.dtype(), orig - opt.eps);
      std::vector<double> lo = flatten_outputs(fn(inputs));
      write(p, x.dtype(), orig + opt.eps);
      std::vector<double> hi = flatten_outputs(fn(inputs));
      write(p, x.dtype(), orig);
      std::vector<double> col(lo.size());
      for (size_t r = 0; r < lo.size(); ++r) col[r] = (hi[r] - lo[r]) / (2 * opt.eps);
      cols.push_back(std::move(col));
    }
    return cols;
  }

  // rows[i][r][j]: d(output element r)/d(input i element j), from backward with one-hot grad_outputs.
  std::vector<std::vector<std::vector<double>>> analytical(const TensorList& outs) const {
    TensorList diff_inputs;
    for (size_t i : wrt) diff_inputs.push_back(inputs[i]);
    std::vector<std::vector<std::vector<double>>> rows(wrt.size());
    for (const Tensor& o : outs) {
      if (!o.defined() || !is_floating(o.dtype())) continue;
      for (int64_t k = 0; k < o.numel(); ++k) {
        std::vector<std::vector<double>> grads_k(wrt.size());
        if (o.requires_grad()) {
          Tensor go = zeros(o.shape(), o.dtype());
          write(element_addresses(go)[static_cast<size_t>(k)], go.dtype(), 1.0);
          TensorList g = grad({o}, diff_inputs, {go}, /*retain_graph=*/true, false, /*allow_unused=*/true);
          for (size_t w = 0; w < wrt.size(); ++w) {
            if (g[w].defined()) {
              GRAFT_CHECK(g[w].shape() == diff_inputs[w].shape() && g[w].dtype() == diff_inputs[w].dtype(),
                          "gradcheck: the gradient of input {} has shape {} and dtype {}, expected {} and {}", wrt[w],
                          shape_str(g[w].shape()), dtype_name(g[w].dtype()), shape_str(diff_inputs[w].shape()),
                          dtype_name(diff_inputs[w].dtype()));
              grads_k[w] = g[w].to_vector<double>();
            } else {
              grads_k[w].assign(static_cast<size_t>(diff_inputs[w].numel()), 0.0);
            }
          }
        } else {
          for (size_t w = 0; w < wrt.size(); ++w) grads_k[w].assign(static_cast<size_t>(diff_inputs[w].numel()), 0.0);
        }
        for (size_t w = 0; w < wrt.size(); ++w) rows[w].push_back(std::move(grads_k[w]));
      }
    }
    return rows;
  }

  // (output number, element within it) of flattened output row r.
  std::pair<size_t, int64_t> locate_output(const TensorList& outs, size_t r) const {
    size_t at = 0;
    for (size_t o = 0; o < outs.size(); ++o) {
      if (!outs[o].defined() || !is_floating(outs[o].dtype())) continue;
      size_t n = static_cast<size_t>(outs[o].numel());
      if (r < at + n) return {o, static_cast<int64_t>(r - at)};
      at += n;
    }
    return {0, 0};
  }

  bool zero_grad_output_gives_zero(const TensorList& outs) const {
    TensorList diff_inputs, roots, zero_grads;
    for (size_t i : wrt) diff_inputs.push_back(inputs[i]);
    for (const Tensor& o : outs)
      if (differentiable(o)) {
        roots.push_back(o);
        zero_grads.push_back(zeros(o.shape(), o.dtype()));
      }
    if (roots.empty()) return true;
    TensorList g = grad(roots, diff_inputs, zero_grads, true, false, true);
    for (size_t w = 0; w < g.size(); ++w)
      if (g[w].defined())
        for (double v : g[w].to_vector<double>())
          if (v != 0.0) return fail(fmt::format("a zero grad_output gave a non-zero gradient for input {}", wrt[w]));
    return true;
  }

  // Backward must add into .grad, not overwrite it: two backward calls give twice the gradient.
  bool backward_accumulates() const {
    TensorList leaves;
    for (const Tensor& t : inputs) {
      if (differentiable(t) && t.is_leaf()) {
        Tensor leaf = t.detach();
        leaf.requires_grad_(true);
        leaves.push_back(leaf);
      } else {
        leaves.push_back(t);
      }
    }
    TensorList outs = fn(leaves), roots, seeds;
    for (const Tensor& o : outs)
      if (differentiable(o)) {
        roots.push_back(o);
        seeds.push_back(randn(o.shape(), o.dtype()));
      }
    if (roots.empty()) return true;
    backward(roots, seeds, /*retain_graph=*/true);
    std::vector<std::vector<double>> once;
    for (size_t i : wrt) once.push_back(leaves[i].grad().defined() ? leaves[i].grad().to_vector<double>() : std::vector<double>{});
    backward(roots, seeds, true);
    for (size_t w = 0; w < wrt.size(); ++w) {
      const Tensor& g = leaves[wrt[w]].grad();
      if (!g.defined()) continue;
      std::vector<double> twice = g.to_vector<double>();
      for (size_t j = 0; j < twice.size(); ++j)
        if (std::abs(twice[j] - 2 * once[w][j]) > opt.atol + opt.rtol * std::abs(2 * once[w][j]))
          return fail(fmt::format("a second backward did not add to .grad of input {} (element {}: {} after one "
                                  "backward, {} after two)",
                                  wrt[w], j, once[w][j], twice[j]));
    }
    return true;
  }

  // As PyTorch's _check_no_differentiable_outputs: when no output requires grad (say, the derivative of
  // sign, or of a function that is constant in its inputs), the numerical Jacobian must be exactly zero.
  bool no_differentiable_outputs(const TensorList& outs) const {
    for (size_t i : wrt) {
      auto cols = numerical(i);
      for (size_t j = 0; j < cols.size(); ++j)
        for (size_t r = 0; r < cols[j].size(); ++r)
          if (cols[j][r] != 0.0) {
            auto [o, k] = locate_output(outs, r);
            return fail(fmt::format(
                "no output of the function requires grad, but the numerical gradient is not zero: output {} "
                "element {} changes by {:.9g} per unit of input {} element {}",
                o, index_str(outs[o].shape(), k), cols[j][r], i, index_str(inputs[i].shape(), static_cast<int64_t>(j))));
          }
    }
    return true;
  }

  bool run() {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      if (!differentiable(t)) continue;
      if (t.dtype() == kFloat32)
        warn(fmt::format("gradcheck: input {} requires grad and is float32; central differences in single precision "
                         "are unreliable, use float64 inputs",
                         i));
      for (int64_t d = 0; d < t.dim(); ++d)
        GRAFT_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1,
                    "gradcheck: input {} has overlapping memory (an expanded view, shape {} strides {}); pass a "
                    "contiguous copy",
                    i, shape_str(t.shape()), shape_str(t.strides()));
      wrt.push_back(i);
    }
    if (wrt.empty()) return fail("no input requires grad");

    TensorList outs = fn(inputs);
    bool any_out = false;
    for (const Tensor& o : outs) any_out = any_out || differentiable(o);
    if (!any_out) return no_differentiable_outputs(outs);

    auto first = analytical(outs);
    auto second = analytical(outs);
    for (size_t w = 0; w < wrt.size(); ++w)
      for (size_t r = 0; r < first[w].size(); ++r)
        for (size_t j = 0; j < first[w][r].size(); ++j)
          if (first[w][r][j] != second[w][r][j])
            return fail(fmt::format("backward is not reentrant: two runs gave {} and {} for input {} element {}",
                                    first[w][r][j], second[w][r][j], wrt[w], j));

    for (size_t w = 0; w < wrt.size(); ++w) {
      const size_t i = wrt[w];
      auto cols = numerical(i);
      for (size_t j = 0; j < cols.size(); ++j)
        for (size_t r = 0; r < cols[j].size(); ++r) {
          const double n = cols[j][r], a = first[w][r][j];
          if (std::isnan(n) != std::isnan(a) || std::abs(a - n) > opt.atol + opt.rtol * std::abs(n)) {
            auto [o, k] = locate_output(outs, r);
            return fail(fmt::format(
                "Jacobian mismatch for output {} with respect to input {}: at input element {} and output element "
                "{}, numerical {:.9g} vs analytical {:.9g} (atol {}, rtol {})",
                o, i, index_str(inputs[i].shape(), static_cast<int64_t>(j)), index_str(outs[o].shape(), k), n, a,
                opt.atol, opt.rtol));
          }
        }
    }
    return zero_grad_output_gives_zero(outs) && backward_accumulates();
  }
};

}  // namespace

bool gradcheck(const DifferentiableFunction& fn, const TensorList& inputs, const GradcheckOptions& options) {
  Checker checker{fn, inputs, options, {}};
  return checker.run();
}

bool gradgradcheck(const DifferentiableFunction& fn, const TensorList& inputs, const TensorList& grad_outputs_in,
                   const GradcheckOptions& options) {
  std::vector<size_t> wrt;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (differentiable(inputs[i])) wrt.push_back(i);
  TensorList grad_outputs = grad_outputs_in;
  if (grad_outputs.empty()) {
    NoGradGuard no_grad;
    for (const Tensor& o : fn(inputs))
      if (o.defined() && is_floating(o.dtype())) grad_outputs.push_back(randn(o.shape(), kFloat64).requires_grad_());
  }
  const size_t n_in = inputs.size();
  // g(inputs, v) = d<fn(inputs), v>/d(inputs), recorded so that it can be differentiated again.
  DifferentiableFunction first_order = [&fn, wrt, n_in](const TensorList& args) -> TensorList {
    TensorList in(args.begin(), args.begin() + static_cast<long>(n_in));
    TensorList v(args.begin() + static_cast<long>(n_in), args.end());
    TensorList outs = fn(in), roots, seeds, diff_inputs;
    for (size_t k = 0, vi = 0; k < outs.size(); ++k) {
      if (!outs[k].defined() || !is_floating(outs[k].dtype())) continue;
      if (outs[k].requires_grad()) {
        roots.push_back(outs[k]);
        seeds.push_back(v[vi].dtype() == outs[k].dtype() ? v[vi] : v[vi].to(outs[k].dtype()));
      }
      ++vi;
    }
    for (size_t i : wrt) diff_inputs.push_back(in[i]);
    if (roots.empty()) {
      TensorList zs;
      for (const Tensor& t : diff_inputs) zs.push_back(zeros(t.shape(), t.dtype()));
      return zs;
    }
    TensorList g = grad(roots, diff_inputs, seeds, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    for (size_t k = 0; k < g.size(); ++k)
      if (!g[k].defined()) g[k] = zeros(diff_inputs[k].shape(), diff_inputs[k].dtype());
    return g;
  };
  TensorList args = inputs;
  args.insert(args.end(), grad_outputs.begin(), grad_outputs.end());
  return gradcheck(first_order, args, options);
}

}  // namespace graft::autograd
