#include "fpokit/sae/model/sparse_autoencoder.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/sae/model/jumprelu.h"
#include "fpokit/sae/model/row_topk.h"

namespace fpokit::sae {

SparseAutoencoderImpl::SparseAutoencoderImpl(SaeConfig config) : config_(std::move(config)) {
  config_.validate();
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  W_enc = register_parameter("W_enc", torch::zeros({config_.d_in, config_.d_sae}, opts));
  b_enc = register_parameter("b_enc", torch::zeros({config_.d_sae}, opts));
  W_dec = register_parameter("W_dec", torch::zeros({config_.d_sae, config_.d_in}, opts));
  b_dec = register_parameter("b_dec", torch::zeros({config_.d_in}, opts));
  if (config_.architecture == Architecture::JumpReLU) {
    threshold = register_parameter("threshold", torch::zeros({config_.d_sae}, opts));
  }
  if (config_.architecture == Architecture::Gated) {
    r_mag = register_parameter("r_mag", torch::zeros({config_.d_sae}, opts));
    b_mag = register_parameter("b_mag", torch::zeros({config_.d_sae}, opts));
  }
  if (config_.architecture == Architecture::BatchTopK) {
    // float64 as SAELens: the EMA of small minima loses precision in float32.
    batch_topk_threshold_ =
        register_buffer("batch_topk_threshold", torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64)));
  }
}

torch::Tensor SparseAutoencoderImpl::pre_activations(const torch::Tensor& x) const {
  const auto centred = config_.apply_b_dec_to_input ? x - b_dec : x;
  return torch::addmm(b_enc, centred.reshape({-1, config_.d_in}), W_enc).reshape([&] {
    auto s = x.sizes().vec();
    s.back() = config_.d_sae;
    return s;
  }());
}

namespace {

// Keeps the k largest entries of each row of `values` (already non-negative), zero elsewhere.
// The selection (row_topk.h) needs no gradient; the kept values are gathered with autograd.
torch::Tensor keep_topk_rows(const torch::Tensor& values, int64_t k) {
  const auto rows = values.reshape({-1, values.size(-1)});
  const auto idx = row_topk(rows.detach(), k).indices;
  return torch::zeros_like(rows).scatter(-1, idx, rows.gather(-1, idx)).reshape(values.sizes());
}

// Keeps the k largest entries of the whole tensor, zero elsewhere (BatchTopK training).
torch::Tensor keep_topk_flat(const torch::Tensor& values, int64_t k) {
  const auto flat = values.reshape({-1});
  const auto idx = flat_topk(flat.detach(), k).indices;
  return torch::zeros_like(flat).scatter(0, idx, flat.gather(0, idx)).reshape(values.sizes());
}

}  // namespace

torch::Tensor SparseAutoencoderImpl::activate(const torch::Tensor& pre) const {
  switch (config_.architecture) {
    case Architecture::ReLU: return torch::relu(pre);
    case Architecture::TopK: {
      // ReLU before or after the selection gives the same values (SAELens selects first,
      // sparsify ReLUs first): fewer than k positives leave zeros either way.
      return keep_topk_rows(torch::relu(pre), std::min(config_.k, pre.size(-1)));
    }
    case Architecture::BatchTopK: {
      const auto acts = torch::relu(pre);
      if (is_training()) {
        const auto flat = acts.reshape({-1});
        const int64_t keep = std::min<int64_t>(config_.k * (flat.numel() / config_.d_sae), flat.numel());
        return keep_topk_flat(acts, keep);
      }
      const auto theta = batch_topk_threshold_.to(acts.scalar_type());
      return acts * (acts > theta).to(acts.scalar_type());
    }
    case Architecture::JumpReLU: return jumprelu(pre, threshold, config_.jumprelu_bandwidth);
    case Architecture::Gated: {
      // The magnitude path shares W_enc (rescaled per latent): (x−b_dec)W_enc = π_gate − b_gate.
      const auto magnitude = torch::relu((pre - b_enc) * torch::exp(r_mag) + b_mag);
      return (pre > 0).to(magnitude.scalar_type()) * magnitude;
    }
  }
  return pre;
}

torch::Tensor SparseAutoencoderImpl::decode(const torch::Tensor& features) const {
  auto s = features.sizes().vec();
  s.back() = config_.d_in;
  return torch::addmm(b_dec, features.reshape({-1, config_.d_sae}), W_dec).reshape(s);
}

SparseAutoencoderImpl::Output SparseAutoencoderImpl::forward(const torch::Tensor& x) const {
  Output out;
  out.pre = pre_activations(x);
  out.features = activate(out.pre);
  out.reconstruction = decode(out.features);
  return out;
}

torch::Tensor SparseAutoencoderImpl::normalize_input(const torch::Tensor& x) const {
  const double d = static_cast<double>(config_.d_in);
  switch (config_.normalization) {
    case ActivationNormalization::None: return x;
    case ActivationNormalization::ExpectedAverageOnlyIn: return x * config_.activation_scale;
    case ActivationNormalization::ConstantNormRescale: return x * (std::sqrt(d) / x.norm(2, -1, /*keepdim=*/true));
    case ActivationNormalization::LayerNorm: {
      const auto mu = x.mean(-1, true);
      const auto sigma = x.std(-1, /*unbiased=*/true, /*keepdim=*/true);
      return (x - mu) / (sigma + 1e-5);
    }
  }
  return x;
}

torch::Tensor SparseAutoencoderImpl::denormalize_output(const torch::Tensor& x_hat, const torch::Tensor& raw_x) const {
  const double d = static_cast<double>(config_.d_in);
  switch (config_.normalization) {
    case ActivationNormalization::None: return x_hat;
    case ActivationNormalization::ExpectedAverageOnlyIn: return x_hat / config_.activation_scale;
    case ActivationNormalization::ConstantNormRescale: return x_hat * (raw_x.norm(2, -1, true) / std::sqrt(d));
    case ActivationNormalization::LayerNorm: {
      const auto mu = raw_x.mean(-1, true);
      const auto sigma = raw_x.std(-1, true, true);
      return x_hat * (sigma + 1e-5) + mu;
    }
  }
  return x_hat;
}

torch::Tensor SparseAutoencoderImpl::reconstruct(const torch::Tensor& raw_x) const {
  return denormalize_output(decode(encode(normalize_input(raw_x))), raw_x);
}

void SparseAutoencoderImpl::fold_activation_scale() {
  if (config_.normalization != ActivationNormalization::ExpectedAverageOnlyIn) return;
  torch::NoGradGuard no_grad;
  const double s = config_.activation_scale;
  W_enc.mul_(s);
  W_dec.div_(s);
  b_dec.div_(s);
  config_.activation_scale = 1.0;
  config_.normalization = ActivationNormalization::None;
}

void SparseAutoencoderImpl::fold_decoder_norms() {
  if (config_.architecture == Architecture::BatchTopK)
    throw InputError(
        "fold_decoder_norms: a BatchTopK SAE selects on unscaled features; its one global "
        "threshold cannot absorb per-latent decoder norms");
  torch::NoGradGuard no_grad;
  const auto norms = W_dec.norm(2, 1);  // [d_sae]
  W_enc.mul_(norms.unsqueeze(0));
  b_enc.mul_(norms);
  if (threshold.defined()) threshold.mul_(norms);
  if (b_mag.defined()) b_mag.mul_(norms);  // π_mag scales with W_enc; e^r_mag is a ratio
  W_dec.div_(norms.unsqueeze(1));
}

void SparseAutoencoderImpl::update_batch_topk_threshold(const torch::Tensor& features, double rate) {
  if (config_.architecture != Architecture::BatchTopK) return;
  torch::NoGradGuard no_grad;
  const auto f = features.detach();
  const auto positive = f.masked_select(f > 0);
  if (positive.numel() == 0) return;
  const auto batch_min = positive.min().to(torch::kFloat64);
  batch_topk_threshold_.mul_(1.0 - rate).add_(batch_min * rate);
}

void SparseAutoencoderImpl::set_batch_topk_threshold(double theta) {
  if (!batch_topk_threshold_.defined()) return;
  torch::NoGradGuard no_grad;
  batch_topk_threshold_.fill_(theta);
}

void initialize_weights(SparseAutoencoderImpl& sae, const InitOptions& options) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const auto& c = sae.config();
  // kaiming_uniform (a = sqrt(5), torch's Linear default): bound = 1/sqrt(fan_in = d_in).
  const double bound = 1.0 / std::sqrt(static_cast<double>(c.d_in));
  auto w = torch::empty({c.d_sae, c.d_in}, torch::kFloat32).uniform_(-bound, bound, gen);
  w = w / w.norm(2, 1, true) * options.decoder_row_norm;
  sae.W_dec.copy_(w);
  sae.W_enc.copy_(w.t());
  sae.b_enc.zero_();
  sae.b_dec.zero_();
  if (sae.threshold.defined()) sae.threshold.fill_(options.initial_threshold);
  if (sae.r_mag.defined()) sae.r_mag.zero_();
  if (sae.b_mag.defined()) sae.b_mag.zero_();
  sae.set_batch_topk_threshold(0.0);
}

InitOptions default_init_options(Architecture architecture, uint64_t seed) {
  InitOptions o;
  o.decoder_row_norm = architecture == Architecture::ReLU ? 0.1 : 1.0;
  o.seed = seed;
  return o;
}

void normalize_decoder_rows(torch::Tensor& W_dec) {
  torch::NoGradGuard no_grad;
  W_dec.div_(W_dec.norm(2, 1, true).clamp_min(1e-12));
}

void remove_decoder_gradient_parallel(torch::Tensor& W_dec) {
  torch::NoGradGuard no_grad;
  auto g = W_dec.mutable_grad();
  if (!g.defined()) return;
  const auto unit = W_dec / W_dec.norm(2, 1, true).clamp_min(1e-12);
  g.sub_((g * unit).sum(1, true) * unit);
}

}  // namespace fpokit::sae
