#include "sae_trainer_unit.h"

#include <cmath>

#include <torch/torch.h>

#include "fpokit/core/train/gradient_clipping.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/model/geometric_median.h"
#include "fpokit/sae/model/sae_losses.h"
#include "fpokit/sae/training/fused_update.h"

namespace fpokit::sae {

SaeTrainer::Unit::Unit(SaeSpec s, const TrainerOptions& options) : spec(std::move(s)), sae(spec.config) {
  sae->to(options.device);
  sae->train();
  optimizer = std::make_unique<torch::optim::Adam>(
      sae->parameters(),
      torch::optim::AdamOptions(options.lr).betas({options.adam_beta1, options.adam_beta2}).eps(options.adam_eps));
  const auto long_opts = torch::TensorOptions().dtype(torch::kInt64).device(options.device);
  tokens_since_fired = torch::zeros({spec.config.d_sae}, long_opts);
  density_counts = torch::zeros({spec.config.d_sae}, long_opts);
  density_counts_prev = torch::zeros({spec.config.d_sae}, long_opts);
  const auto f = torch::TensorOptions().dtype(torch::kFloat64).device(options.device);
  acc_loss = torch::zeros({}, f);
  acc_l0 = torch::zeros({}, f);
  acc_err = torch::zeros({}, f);
  acc_var = torch::zeros({}, f);
}

void SaeTrainer::Unit::initialize(const torch::Tensor& sample, uint64_t seed, const TrainerOptions& options) {
  torch::NoGradGuard no_grad;
  auto& c = sae->mutable_config();
  if (c.normalization == ActivationNormalization::ExpectedAverageOnlyIn) {
    // SAELens: s = sqrt(d_in) / E‖x‖, so that the mean norm in training space is sqrt(d_in).
    const double mean_norm = sample.to(torch::kFloat64).norm(2, 1).mean().item<double>();
    c.activation_scale = mean_norm > 0 ? std::sqrt(static_cast<double>(c.d_in)) / mean_norm : 1.0;
  }
  auto init = default_init_options(c.architecture, seed);
  init.initial_threshold = options.jumprelu_initial_threshold;
  initialize_weights(*sae, init);
  const auto x = sae->normalize_input(sample);
  switch (options.b_dec_init) {
    case DecoderBiasInit::GeometricMedian: sae->b_dec.copy_(geometric_median(x)); break;
    case DecoderBiasInit::Mean: sae->b_dec.copy_(x.mean(0)); break;
    case DecoderBiasInit::Zeros: break;
  }
  tokens_since_fired.zero_();
  density_counts.zero_();
  density_counts_prev.zero_();
  density_tokens = density_tokens_prev = 0;
}

void SaeTrainer::Unit::step(const torch::Tensor& raw_x, double lr, int64_t step, int64_t total_steps,
                            const TrainerOptions& options) {
  const auto& c = sae->config();
  const int64_t n = raw_x.size(0);
  const auto x = sae->normalize_input(raw_x);

  LossOptions lo;
  const int64_t l1_warmup = options.l1_warmup_steps >= 0 ? options.l1_warmup_steps : total_steps / 20;
  lo.l1_coefficient =
      options.l1_coefficient *
      (l1_warmup > 0 ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(l1_warmup)) : 1.0);
  lo.l0_coefficient = options.l0_coefficient;
  lo.auxk_coefficient = options.auxk_coefficient;
  lo.k_aux = options.k_aux;
  lo.sparse_kernels = options.sparse_kernels;
  torch::Tensor dead;
  if (c.architecture == Architecture::TopK || c.architecture == Architecture::BatchTopK)
    dead = tokens_since_fired >= options.dead_tokens;

  auto terms = training_loss(*sae, x, lo, dead);
  optimizer->zero_grad();
  terms.total.backward();
  if (can_fuse_update(*sae, *optimizer)) {  // CPU float32: the same update in two passes over memory
    UpdateSettings update;
    update.lr = lr;
    update.max_grad_norm = options.max_grad_norm;
    update.unit_norm_decoder = unit_norm_decoder();
    fused_update(*sae, *optimizer, update);
  } else {
    if (unit_norm_decoder()) remove_decoder_gradient_parallel(sae->W_dec);
    core::clip_grad_norm(sae->parameters(), options.max_grad_norm);
    for (auto& group : optimizer->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    optimizer->step();
    if (unit_norm_decoder()) normalize_decoder_rows(sae->W_dec);
  }

  torch::NoGradGuard no_grad;
  torch::Tensor fired_counts, n_active;
  if (terms.forward.features.defined()) {
    const auto features = terms.forward.features.detach();
    if (c.architecture == Architecture::BatchTopK) sae->update_batch_topk_threshold(features);
    const auto active = features > 0;
    fired_counts = active.sum(0);
    n_active = active.sum();
  } else {  // sparse path: only the selected entries exist
    const auto values = terms.forward.values.detach();
    if (c.architecture == Architecture::BatchTopK) sae->update_batch_topk_threshold(values);
    const auto active = values > 0;
    fired_counts = torch::bincount(terms.forward.selection.cols.masked_select(active), {}, c.d_sae);
    n_active = active.sum();
  }
  tokens_since_fired = torch::where(fired_counts > 0, torch::zeros_like(tokens_since_fired), tokens_since_fired + n);
  density_counts.add_(fired_counts);
  density_tokens += n;
  if (density_tokens >= options.dead_tokens) {
    density_counts_prev.copy_(density_counts);
    density_tokens_prev = density_tokens;
    density_counts.zero_();
    density_tokens = 0;
  }
  const auto x_hat = terms.forward.reconstruction.detach();
  acc_loss.add_(terms.total.detach().to(torch::kFloat64));
  acc_l0.add_(n_active.to(torch::kFloat64));
  acc_err.add_((x_hat - x).pow(2).sum().to(torch::kFloat64));
  acc_var.add_((x - x.mean(0, true)).pow(2).sum().to(torch::kFloat64));
  ++acc_steps;
  acc_tokens += n;
}

bool SaeTrainer::Unit::window_finite() const { return std::isfinite(acc_loss.item<double>()); }

SaeTrainer::Unit::Window SaeTrainer::Unit::take_window() {
  Window w;
  if (acc_steps == 0) return w;
  const auto v = torch::stack({acc_loss, acc_l0, acc_err, acc_var}).cpu();
  const auto a = v.accessor<double, 1>();
  w.loss = a[0] / static_cast<double>(acc_steps);
  w.l0 = a[1] / static_cast<double>(acc_tokens);
  w.fvu = a[3] > 0 ? a[2] / a[3] : 0.0;
  acc_loss.zero_();
  acc_l0.zero_();
  acc_err.zero_();
  acc_var.zero_();
  acc_steps = acc_tokens = 0;
  return w;
}

double SaeTrainer::Unit::dead_fraction(int64_t dead_tokens) const {
  return (tokens_since_fired >= dead_tokens).to(torch::kFloat64).mean().item<double>();
}

torch::Tensor SaeTrainer::Unit::log_feature_density() const {
  const auto counts = (density_counts + density_counts_prev).to(torch::kCPU, torch::kFloat64);
  const double tokens = static_cast<double>(std::max<int64_t>(density_tokens + density_tokens_prev, 1));
  return torch::log10(counts / tokens + 1e-10).to(torch::kFloat32);
}

void SaeTrainer::Unit::save_final(const std::filesystem::path& dir) const {
  save_saelens(*sae, dir);
  lm::write_safetensors(
      dir / "sparsity.safetensors", {{"sparsity", log_feature_density()}},
      {{"definition", "log10(fraction of recent training tokens on which the latent fired + 1e-10)"}});
}

std::vector<std::pair<std::string, torch::Tensor>> SaeTrainer::Unit::state_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : sae->named_parameters())
    out.emplace_back("param." + p.key(), p.value().detach().cpu().contiguous());
  for (const auto& b : sae->named_buffers())
    out.emplace_back("buffer." + b.key(), b.value().detach().cpu().contiguous());
  out.emplace_back("tokens_since_fired", tokens_since_fired.cpu());
  out.emplace_back("density_counts", density_counts.cpu());
  out.emplace_back("density_counts_prev", density_counts_prev.cpu());
  out.emplace_back("density_tokens", torch::tensor({density_tokens, density_tokens_prev}, torch::kInt64));
  out.emplace_back("activation_scale", torch::tensor({sae->config().activation_scale}, torch::kFloat64));
  // The logging window so far: a resumed run logs the same averages as an uninterrupted one.
  out.emplace_back("window_sums", torch::stack({acc_loss, acc_l0, acc_err, acc_var}).cpu());
  out.emplace_back("window_counts", torch::tensor({acc_steps, acc_tokens}, torch::kInt64));
  return out;
}

void SaeTrainer::Unit::load_state_tensors(const std::function<torch::Tensor(const std::string&)>& get) {
  torch::NoGradGuard no_grad;
  for (auto& p : sae->named_parameters()) p.value().copy_(get("param." + p.key()));
  for (auto& b : sae->named_buffers()) b.value().copy_(get("buffer." + b.key()));
  tokens_since_fired.copy_(get("tokens_since_fired"));
  density_counts.copy_(get("density_counts"));
  density_counts_prev.copy_(get("density_counts_prev"));
  const auto dt = get("density_tokens");
  density_tokens = dt[0].item<int64_t>();
  density_tokens_prev = dt[1].item<int64_t>();
  sae->mutable_config().activation_scale = get("activation_scale")[0].item<double>();
  const auto sums = get("window_sums");
  acc_loss.copy_(sums[0]);
  acc_l0.copy_(sums[1]);
  acc_err.copy_(sums[2]);
  acc_var.copy_(sums[3]);
  const auto counts = get("window_counts");
  acc_steps = counts[0].item<int64_t>();
  acc_tokens = counts[1].item<int64_t>();
}

}  // namespace fpokit::sae
