// Model-state memory per rank: measured from the real buffers, it equals the ZeRO formulas for the padded
// parameter count: 4 + 4 + 8 bytes for float32 Adam, and the paper's mixed-precision 2 + 2 + 12 for bfloat16
// and float16 models; and the formulas reproduce Table 1 of the paper.
#include <cmath>

#include "zero/harness.h"

namespace zero_test {
namespace {

zero::ModelStateMemory measure(const TrainSetup& s, int world, int stage, int64_t* padded, int64_t* psi) {
  const Data data = make_data(s);
  std::vector<std::shared_ptr<Mlp>> models;
  for (int r = 0; r < world; ++r) models.push_back(make_model(s));
  std::vector<zero::ModelStateMemory> memory(static_cast<size_t>(world));
  zero::run_in_process(world, [&](zero::Communicator& comm) {
    Mlp& model = *models[static_cast<size_t>(comm.rank())];
    zero::ShardedOptimizer opt(model, make_factory(s), comm, stage);
    for (int j = comm.rank(); j < s.micro_batches; j += world)
      opt.backward(micro_batch_loss(s, model, data.input(s, 0, j), data.target(s, 0, j)));
    opt.step();
    memory[static_cast<size_t>(comm.rank())] = opt.memory();
    if (comm.rank() == 0) {  // one writer: the ranks are threads
      *padded = opt.num_padded_parameters();
      *psi = opt.num_parameters();
    }
  });
  for (int r = 1; r < world; ++r) {
    EXPECT_EQ(memory[static_cast<size_t>(r)].bytes.total(), memory[0].bytes.total()) << "ranks hold equal shares";
  }
  return memory[0];
}

TEST(ZeroMemory, MeasuredBuffersEqualTheFormulasForThePaddedParameterCount) {
  for (bool uneven : {false, true}) {
    TrainSetup s;  // Adam: two state buffers
    if (!uneven) s.in = s.hidden = s.out = 32;  // 2112 parameters: no padding for 1 to 4 ranks
    for (int world = 1; world <= 4; ++world) {
      for (int stage = 0; stage <= 3; ++stage) {
        int64_t padded = 0, psi = 0;
        const zero::ModelStateMemory m = measure(s, world, stage, &padded, &psi);
        const std::string at = fmt::format("{} model, W={}, stage {}", uneven ? "uneven" : "even", world, stage);
        if (!uneven) EXPECT_EQ(padded, psi) << at;
        else EXPECT_EQ(padded % (16 * world), 0) << at;
        const zero::ModelStateBytes f32 = zero::zero_model_state_bytes(stage, static_cast<double>(padded), world, 8, 4, 4);
        EXPECT_EQ(m.bytes.parameters, f32.parameters) << at;
        EXPECT_EQ(m.bytes.gradients, f32.gradients) << at;
        EXPECT_EQ(m.bytes.optimizer_states, f32.optimizer_states) << at;
        EXPECT_EQ(m.state_buffers, 2) << at;
      }
    }
  }
}

TEST(ZeroMemory, MixedPrecisionHoldsThePapersTwoPlusTwoPlusTwelveBytes) {
  for (DType dtype : {kBFloat16, kFloat16}) {
    TrainSetup s;  // Adam: float32 master weights, exp_avg and exp_avg_sq (K = 12)
    s.dtype = dtype;
    for (int world = 1; world <= 4; ++world) {
      for (int stage = 0; stage <= 3; ++stage) {
        int64_t padded = 0, psi = 0;
        const zero::ModelStateMemory m = measure(s, world, stage, &padded, &psi);
        const std::string at = fmt::format("{}, W={}, stage {}", dtype_name(dtype), world, stage);
        const zero::ModelStateBytes paper = zero::zero_model_state_bytes(stage, static_cast<double>(padded), world);
        EXPECT_EQ(m.bytes.parameters, paper.parameters) << at;
        EXPECT_EQ(m.bytes.gradients, paper.gradients) << at;
        EXPECT_EQ(m.bytes.optimizer_states, paper.optimizer_states) << at;
        EXPECT_EQ(m.state_buffers, 3) << at;
      }
    }
  }
}

TEST(ZeroMemory, FormulasOfSection5) {
  // 7.5B parameters on 64 ranks (the paper's Figure 1): 120 GB, 31.4 GB, 16.6 GB, 1.9 GB.
  const double psi = 7.5e9, gb = 1e9;
  EXPECT_DOUBLE_EQ(zero::zero_model_state_bytes(0, psi, 64).total() / gb, 120);
  EXPECT_NEAR(zero::zero_model_state_bytes(1, psi, 64).total() / gb, 31.4, 0.05);
  EXPECT_NEAR(zero::zero_model_state_bytes(2, psi, 64).total() / gb, 16.6, 0.05);
  EXPECT_NEAR(zero::zero_model_state_bytes(3, psi, 64).total() / gb, 1.88, 0.005);
  const zero::ModelStateBytes s1 = zero::zero_model_state_bytes(1, 100, 4);
  EXPECT_EQ(s1.parameters, 200);
  EXPECT_EQ(s1.gradients, 200);
  EXPECT_EQ(s1.optimizer_states, 300);
  EXPECT_THROW(zero::zero_model_state_bytes(4, psi, 64), Error);
  EXPECT_THROW(zero::zero_model_state_bytes(1, psi, 0), Error);
}

// Table 1 of the paper as printed (GB): 7.5B rounded, 128B and 1T truncated.
TEST(ZeroMemory, ReproducesTable1AtItsPrintedPrecision) {
  for (const zero::PaperTableCell& cell : zero::paper_table1()) {
    const double gb = zero::zero_model_state_bytes(cell.stage, cell.psi, cell.n_d).total() / 1e9;
    EXPECT_TRUE(zero::matches_printed(gb, cell.printed))
        << "Psi " << cell.psi << ", N_d " << cell.n_d << ", stage " << cell.stage << ": " << gb << " vs " << cell.printed;
  }
  EXPECT_EQ(zero::paper_table1().size(), 3u * 6u * 3u);
  EXPECT_TRUE(zero::matches_printed(4187.5, "4187"));
  EXPECT_TRUE(zero::matches_printed(0.46875, "0.47"));
  EXPECT_FALSE(zero::matches_printed(4189, "4187"));
  EXPECT_FALSE(zero::matches_printed(0.49, "0.47"));
}

}  // namespace
}  // namespace zero_test
