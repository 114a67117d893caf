#include "fpokit/sae/training/sae_trainer.h"

#include <chrono>
#include <sstream>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/core/memory/large_allocations.h"
#include "fpokit/core/train/autocast_scope.h"
#include "fpokit/core/train/cpu_bf16.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/model/geometric_median.h"
#include "fpokit/sae/model/sae_losses.h"
#include "sae_trainer_unit.h"

namespace fpokit::sae {

namespace fs = std::filesystem;

namespace {

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

void TrainerOptions::validate() const {
  const auto at_least = [](double value, double low, const char* option, const char* meaning = "") {
    if (!(value >= low))
      throw ConfigError(std::string(option) + " must be at least " + number_text(low) + meaning + ", got " +
                        number_text(value));
  };
  const auto below_one = [](double value, const char* option) {
    if (!(value >= 0 && value < 1))
      throw ConfigError(std::string(option) + " must be in [0, 1), got " + number_text(value));
  };
  at_least(static_cast<double>(total_tokens), 1, "--tokens");
  at_least(static_cast<double>(batch_tokens), 1, "--batch-tokens");
  at_least(static_cast<double>(buffer_tokens), 1, "--buffer-tokens");
  at_least(lr, 0, "--learning-rate");
  below_one(adam_beta1, "--adam-beta1");
  below_one(adam_beta2, "--adam-beta2");
  if (!(adam_eps > 0)) throw ConfigError("Adam epsilon must be positive, got " + number_text(adam_eps));
  at_least(static_cast<double>(lr_warmup_steps), 0, "--warmup-steps");
  at_least(static_cast<double>(lr_decay_steps), 0, "--lr-decay-steps");
  at_least(max_grad_norm, 0, "--max-grad-norm", " (0: no clipping)");
  at_least(l1_coefficient, 0, "--l1-coefficient");
  at_least(static_cast<double>(l1_warmup_steps), -1, "--l1-warmup-steps", " (-1: 5% of the run)");
  at_least(l0_coefficient, 0, "--l0-coefficient");
  if (!(jumprelu_initial_threshold > 0))
    throw ConfigError("--jumprelu-init-threshold must be positive, got " + number_text(jumprelu_initial_threshold));
  at_least(auxk_coefficient, 0, "--auxk-coefficient");
  at_least(static_cast<double>(k_aux), 0, "--k-aux", " (0: d_in/2)");
  at_least(static_cast<double>(dead_tokens), 1, "--dead-tokens");
  at_least(static_cast<double>(checkpoint_every_tokens), 0, "--checkpoint-every", " (0: only at the end)");
  at_least(static_cast<double>(log_every_steps), 0, "--logging-steps", " (0: only at the end)");
  at_least(static_cast<double>(stop_after_tokens), 0, "--stop-after-tokens");
}

DecoderBiasInit parse_decoder_bias_init(std::string_view name) {
  if (name == "geometric_median") return DecoderBiasInit::GeometricMedian;
  if (name == "mean") return DecoderBiasInit::Mean;
  if (name == "zeros") return DecoderBiasInit::Zeros;
  throw ConfigError("unknown b_dec initialisation \"" + std::string(name) + "\": use geometric_median, mean or zeros");
}

std::string_view decoder_bias_init_name(DecoderBiasInit init) {
  switch (init) {
    case DecoderBiasInit::GeometricMedian: return "geometric_median";
    case DecoderBiasInit::Mean: return "mean";
    case DecoderBiasInit::Zeros: return "zeros";
  }
  return "zeros";
}

SaeTrainer::SaeTrainer(TrainerOptions options, std::vector<SaeSpec> specs, ActivationSource& source, fs::path out_dir)
    : options_(std::move(options)),
      source_(source),
      out_dir_(std::move(out_dir)),
      buffer_(source, options_.buffer_tokens, options_.seed, options_.loop_data,
              options_.prefetch_buffer.value_or(!options_.device.is_cpu())) {
  if (specs.empty()) throw InputError("nothing to train: no SAE was specified");
  options_.validate();
  // The step's large temporaries are the same every step: keep them in the process rather than
  // have the kernel map and zero them again (core/memory/large_allocations.h).
  if (options_.device.is_cpu()) core::reuse_freed_memory();
  if (options_.autocast_bf16 && !options_.device.is_cuda() && !options_.device.is_cpu())
    throw InputError("bf16 autocast runs on CUDA and on the CPU, not on " + options_.device.str() +
                     "; drop --autocast-bf16 or choose --device cuda or cpu");
  if (options_.autocast_bf16 && options_.device.is_cpu() && !core::cpu_has_bf16_units())
    core::log::warning(
        "this CPU has neither AVX512_BF16 nor AMX: bf16 products are emulated and slower than float32; "
        "drop --autocast-bf16 here");
  for (auto& spec : specs) {
    if (spec.hook >= source.hook_names().size())
      throw InputError("SAE " + spec.name + " refers to hook #" + std::to_string(spec.hook) + ", but the data has " +
                       std::to_string(source.hook_names().size()) + " hooks");
    const int64_t width = source.d_in().at(spec.hook);
    if (spec.config.d_in == 0) spec.config.d_in = width;
    if (spec.config.d_in != width)
      throw InputError("SAE " + spec.name + " has d_in " + std::to_string(spec.config.d_in) + " but hook " +
                       source.hook_names()[spec.hook] + " is " + std::to_string(width) + " wide");
    spec.config.hook_name = source.hook_names()[spec.hook];
    spec.config.normalization = options_.normalization;
    spec.config.validate("SAE " + spec.name);
    units_.push_back(std::make_unique<Unit>(std::move(spec), options_));
  }
}

SaeTrainer::~SaeTrainer() = default;

int64_t SaeTrainer::total_steps() const {
  return (options_.total_tokens + options_.batch_tokens - 1) / options_.batch_tokens;
}

SparseAutoencoderImpl& SaeTrainer::sae(size_t i) { return *units_.at(i)->sae; }

void SaeTrainer::initialize() {
  // A sample in source order (no shuffle needed for a median or a mean norm).
  std::vector<ActivationRows> parts;
  int64_t n = 0;
  source_.rewind();
  while (n < options_.init_sample_tokens) {
    auto part = source_.next();
    if (!part) break;
    n += part->size();
    parts.push_back(std::move(*part));
  }
  if (n == 0) throw InputError("the training data yields no tokens (" + source_.describe() + ")");
  const auto sample = ActivationRows::cat(parts).slice(0, std::min(n, options_.init_sample_tokens));
  source_.rewind();
  for (size_t i = 0; i < units_.size(); ++i) {
    auto& u = *units_[i];
    const auto x = sample.activations.at(u.spec.hook).to(options_.device, torch::kFloat32);
    u.initialize(x, options_.seed + i, options_);
  }
  step_ = 0;
  tokens_ = 0;
}

bool SaeTrainer::run(const std::function<void(const TrainingProgress&)>& report) {
  const int64_t total = total_steps();
  const auto started = std::chrono::steady_clock::now();
  const int64_t tokens_at_start = tokens_;
  int64_t next_checkpoint = options_.checkpoint_every_tokens > 0
                                ? (tokens_ / options_.checkpoint_every_tokens + 1) * options_.checkpoint_every_tokens
                                : INT64_MAX;
  auto emit = [&](double lr) {
    TrainingProgress p;
    p.step = step_;
    p.tokens = tokens_;
    p.total_tokens = options_.total_tokens;
    p.lr = lr;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    p.tokens_per_second = seconds > 0 ? static_cast<double>(tokens_ - tokens_at_start) / seconds : 0;
    for (auto& u : units_) {
      const auto w = u->take_window();
      p.l0.push_back(w.l0);
      p.fvu.push_back(w.fvu);
      p.loss.push_back(w.loss);
      p.dead_fraction.push_back(u->dead_fraction(options_.dead_tokens));
    }
    if (report) report(p);
  };

  // A non-finite loss stops the run before it reaches a checkpoint or the log (the accumulated
  // window loss is NaN/inf from the first bad step on), so the last checkpoint stays finite.
  auto check_finite = [&] {
    for (const auto& u : units_)
      if (!u->window_finite())
        throw InputError("SAE " + u->spec.name + ": the loss became non-finite by step " + std::to_string(step_) +
                         ": training stopped (lower --learning-rate, or check the activations); the last checkpoint "
                         "is kept");
  };
  double lr = 0;
  while (step_ < total) {
    if (options_.stop_after_tokens > 0 && tokens_ >= options_.stop_after_tokens) {
      check_finite();
      save_checkpoint();
      return false;
    }
    const int64_t rows = std::min(options_.batch_tokens, options_.total_tokens - tokens_);
    auto batch = buffer_.next_batch(rows);
    if (!batch) break;  // the data ended (loop_data off)
    core::LrSchedule schedule{
        options_.lr, options_.lr_scheduler, options_.lr_warmup_steps, options_.lr_decay_steps, options_.lr_end, total};
    lr = schedule.at(step_);
    for (auto& u : units_) {
      const auto x = batch->activations.at(u->spec.hook).to(options_.device, torch::kFloat32);
      // bf16 autocast (CUDA tensor cores; AVX512_BF16 or AMX through oneDNN on the CPU): the SAE's
      // products run in bf16; the loss reductions, the sparse kernels and Adam's state stay float32.
      core::AutocastScope autocast(options_.device.type(),
                                   options_.autocast_bf16 ? std::optional<c10::ScalarType>(c10::ScalarType::BFloat16)
                                                          : std::nullopt);
      u->step(x, lr, step_, total, options_);
    }
    ++step_;
    tokens_ += batch->size();
    if (step_listener_) step_listener_(tokens_);
    if (tokens_ >= next_checkpoint && step_ < total) {  // the end writes the SAEs instead
      check_finite();
      save_checkpoint();
      next_checkpoint += options_.checkpoint_every_tokens;
    }
    if (options_.log_every_steps > 0 && step_ % options_.log_every_steps == 0) {
      check_finite();
      emit(lr);
    }
  }
  check_finite();  // before the SAEs are saved
  if (options_.log_every_steps <= 0 || step_ % options_.log_every_steps != 0) emit(lr);
  return true;
}

void SaeTrainer::save_final() const {
  for (const auto& u : units_) u->save_final(out_dir_ / u->spec.name);
}

}  // namespace fpokit::sae
