// SaeTrainer against a many-step PyTorch reference run (tests/fixtures/generate_sae_training.py,
// fixture tests/fixtures/sae/training/): a TopK and a JumpReLU SAE start from the fixture's initial
// weights, read the fixture's rows in file order and must reproduce every step's loss, learning
// rate, L0, FVU and dead fraction, and the final weights.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/sae/training/sae_trainer.h"
#include "sae_test_util.h"

using namespace fpokit::sae;
using fpokit::core::LrScheduler;
using fpokit::test::sae_fixture;
using fpokit::test::TempDir;

namespace {

// Serves the rows one per next(). With a one-row mixing buffer every window holds one row, so the
// trainer reads the rows in file order: batch s is rows [s·B, (s+1)·B), as in the generator.
class RowSource : public ActivationSource {
 public:
  explicit RowSource(torch::Tensor x) : x_(std::move(x)), d_in_{x_.size(1)} {}
  const std::vector<std::string>& hook_names() const override { return hooks_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return x_.device(); }
  std::optional<ActivationRows> next() override {
    if (row_ >= x_.size(0)) return std::nullopt;
    ActivationRows rows;
    rows.activations = {x_.slice(0, row_, row_ + 1)};
    rows.token_ids = torch::zeros({1}, torch::kInt64);
    rows.positions = torch::full({1}, row_, torch::kInt64);
    rows.sequence_ids = torch::zeros({1}, torch::kInt64);
    ++row_;
    return rows;
  }
  nlohmann::json position() const override { return {{"row", row_}}; }
  void seek(const nlohmann::json& p) override { row_ = p.at("row").get<int64_t>(); }
  void rewind() override { row_ = 0; }
  std::string describe() const override { return "training parity fixture rows"; }

 private:
  torch::Tensor x_;
  std::vector<std::string> hooks_{"blocks.0.hook_resid_post"};
  std::vector<int64_t> d_in_;
  int64_t row_ = 0;
};

nlohmann::json load_steps() {
  std::ifstream in(sae_fixture("training/steps.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// |a − b| / max(1, |b|): absolute for values of order one, relative for large ones.
double deviation(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); }

double max_deviation(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a64 = a.detach().to(torch::kFloat64);
  const auto b64 = b.detach().to(torch::kFloat64);
  return ((a64 - b64).abs() / b64.abs().clamp_min(1.0)).max().item<double>();
}

struct ParityCase {
  const char* name;
  Architecture architecture;
  bool sparse_kernels;
};

}  // namespace

TEST_CASE("SaeTrainer reproduces a 32-step PyTorch reference run of TopK and JumpReLU", "[sae][trainer][parity]") {
  const auto c = GENERATE(values<ParityCase>({{"topk", Architecture::TopK, true},
                                              {"topk", Architecture::TopK, false},
                                              {"jumprelu", Architecture::JumpReLU, false}}));
  DYNAMIC_SECTION(c.name << (c.sparse_kernels ? " sparse kernels" : " dense")) {
    const auto fixture = load_steps();
    const auto& settings = fixture.at("settings");
    const auto& ref = fixture.at(c.name);
    fpokit::lm::SafetensorsFile tensors(sae_fixture("training/tensors.safetensors"));
    const int64_t steps = settings.at("steps").get<int64_t>();
    const int64_t batch = settings.at("batch_tokens").get<int64_t>();

    // The fixture must exercise what this test claims to check: warm-up and decay, clipping on
    // some steps but not all, AuxK contributing (TopK), the L0 term reaching θ (JumpReLU).
    REQUIRE(steps >= 20);
    const auto ref_lr = ref.at("lr").get<std::vector<double>>();
    const double lr = settings.at("lr").get<double>();
    REQUIRE(ref_lr.front() < lr);
    REQUIRE(ref_lr.back() < lr);
    const auto clipped = ref.at("clipped_steps").get<int64_t>();
    REQUIRE(clipped >= 3);
    REQUIRE(clipped <= steps - 3);
    if (c.architecture == Architecture::TopK) REQUIRE(ref.at("aux_steps").get<int64_t>() >= 3);
    if (c.architecture == Architecture::JumpReLU)
      for (const auto hits : ref.at("rect_hits").get<std::vector<int64_t>>()) REQUIRE(hits > 0);

    TrainerOptions o;
    o.batch_tokens = batch;
    o.total_tokens = batch * steps;
    o.buffer_tokens = 1;
    o.loop_data = false;
    o.lr = lr;
    o.adam_beta1 = settings.at("adam_beta1").get<double>();
    o.adam_beta2 = settings.at("adam_beta2").get<double>();
    o.adam_eps = settings.at("adam_eps").get<double>();
    REQUIRE(settings.at("lr_scheduler") == "constant");
    o.lr_scheduler = LrScheduler::Constant;
    o.lr_warmup_steps = settings.at("lr_warmup_steps").get<int64_t>();
    o.lr_decay_steps = settings.at("lr_decay_steps").get<int64_t>();
    o.max_grad_norm = ref.at("max_grad_norm").get<double>();
    o.auxk_coefficient = settings.at("auxk_coefficient").get<double>();
    o.k_aux = settings.at("k_aux").get<int64_t>();
    o.dead_tokens = settings.at("dead_tokens").get<int64_t>();
    o.l0_coefficient = settings.at("l0_coefficient").get<double>();
    o.b_dec_init = DecoderBiasInit::Zeros;  // replaced by the fixture's initial weights
    o.init_sample_tokens = 1;
    REQUIRE(settings.at("normalize_activations") == "none");
    o.normalization = ActivationNormalization::None;
    o.sparse_kernels = c.sparse_kernels;
    o.log_every_steps = 1;

    SaeSpec spec;
    spec.name = c.name;
    spec.config.architecture = c.architecture;
    spec.config.d_sae = settings.at("d_sae").get<int64_t>();
    spec.config.k = settings.at("k").get<int64_t>();
    spec.config.jumprelu_bandwidth = settings.at("jumprelu_bandwidth").get<double>();

    RowSource source(tensors.load("activations").to(torch::kFloat32));
    TempDir dir;
    SaeTrainer trainer(o, {spec}, source, dir.path());
    trainer.initialize();
    {
      torch::NoGradGuard no_grad;
      for (auto& p : trainer.sae(0).named_parameters()) {
        const auto name = std::string(c.name) + ".init." + p.key();
        INFO(name);
        REQUIRE(tensors.find(name) != nullptr);
        p.value().copy_(tensors.load(name));
      }
    }

    std::vector<fpokit::sae::TrainingProgress> progress;
    REQUIRE(trainer.run([&](const TrainingProgress& p) { progress.push_back(p); }));
    REQUIRE(static_cast<int64_t>(progress.size()) == steps);

    const auto ref_loss = ref.at("loss").get<std::vector<double>>();
    const auto ref_l0 = ref.at("l0").get<std::vector<double>>();
    const auto ref_fvu = ref.at("fvu").get<std::vector<double>>();
    const auto ref_dead = ref.at("dead_fraction").get<std::vector<double>>();
    double max_loss = 0, max_fvu = 0, max_lr = 0;
    for (int64_t s = 0; s < steps; ++s) {
      const auto& p = progress[s];
      INFO("step " << s << ": loss " << p.loss[0] << " vs " << ref_loss[s] << ", lr " << p.lr << " vs " << ref_lr[s]
                   << ", L0 " << p.l0[0] << " vs " << ref_l0[s] << ", FVU " << p.fvu[0] << " vs " << ref_fvu[s]
                   << ", dead " << p.dead_fraction[0] << " vs " << ref_dead[s]);
      CHECK(p.step == s + 1);
      CHECK(deviation(p.lr, ref_lr[s]) < 1e-12);
      CHECK(deviation(p.loss[0], ref_loss[s]) < 1e-5);
      CHECK(deviation(p.fvu[0], ref_fvu[s]) < 1e-5);
      CHECK(p.l0[0] == Approx(ref_l0[s]).margin(1e-12));
      CHECK(p.dead_fraction[0] == Approx(ref_dead[s]).margin(1e-12));
      max_loss = std::max(max_loss, deviation(p.loss[0], ref_loss[s]));
      max_fvu = std::max(max_fvu, deviation(p.fvu[0], ref_fvu[s]));
      max_lr = std::max(max_lr, deviation(p.lr, ref_lr[s]));
    }
    double max_weight = 0;
    for (const auto& p : trainer.sae(0).named_parameters()) {
      const auto name = std::string(c.name) + ".final." + p.key();
      const double d = max_deviation(p.value(), tensors.load(name));
      INFO(name << ": max deviation " << d);
      CHECK(d < 1e-5);
      max_weight = std::max(max_weight, d);
    }
    // Shown with -s: the margins actually measured.
    INFO("max deviation: loss " << max_loss << ", FVU " << max_fvu << ", lr " << max_lr << ", weights " << max_weight);
    CHECK(max_weight < 1e-5);
  }
}
