// Preference-training throughput of fpokit's PreferenceTrainer (steps/s, tokens/s, peak memory)
// on synthetic pairs, printed as one JSON line; the peer numbers come from bench/peer_train.py on
// the same model directory (bench/run_train.sh runs both and prints the ratios).
//
// What is timed: --steps optimizer steps after --warmup untimed ones, exactly as `fpokit train`
// runs them (PreferenceTrainer::train: policy forward and backward, the loss, gradient clipping,
// AdamW, the per-step metric reads). What is not: loading the model and the offline reference
// pass (precompute_reference), whose time is reported separately as reference_seconds, because
// fpokit pays it once per dataset while TRL's default pays a reference forward every step.
//
// The data are random token ids (a language model's cost does not depend on which ids it sees),
// so no tokenizer is needed and the same run works on any model directory, random or real.
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#ifdef FPOKIT_WITH_CUDA
// The device-generic allocator interface: gives the CUDA caching allocator's statistics without
// including CUDA headers (which need a CUDA toolkit the wheel-based build does not require).
#include <c10/core/CachingDeviceAllocator.h>
#endif

#include "fpokit/fpo/training/preference_trainer.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

// `pairs` pairs of [prompt | completion] sequences: a shared random prompt of `prompt` tokens and
// two different random completions of `completion` tokens each. All sequences have the same length,
// so collation adds no padding and every step processes exactly 2·pairs·(prompt+completion) tokens.
std::vector<fpokit::fpo::TokenizedPair> synthetic_pairs(int64_t pairs, int64_t prompt, int64_t completion,
                                                        int64_t vocab, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<fpokit::fpo::TokenizedPair> out;
  auto draw = [&](int64_t n) {
    const auto t = torch::randint(0, vocab, {n}, torch::kInt64);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
  };
  for (int64_t i = 0; i < pairs; ++i) {
    const auto p = draw(prompt);
    fpokit::fpo::TokenizedPair pair;
    for (auto* s : {&pair.chosen, &pair.rejected}) {
      s->input_ids = p;
      const auto c = draw(completion);
      s->input_ids.insert(s->input_ids.end(), c.begin(), c.end());
      s->completion_mask.assign(static_cast<size_t>(prompt), 0);
      s->completion_mask.resize(static_cast<size_t>(prompt + completion), 1);
    }
    pair.prompt_length = prompt;
    pair.line = i + 1;
    out.push_back(std::move(pair));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fpokit preference-training benchmark"};
  std::string model_dir, device_name = "cpu", dtype_name = "float32", method_name = "dpo", fpo_hook;
  int64_t pairs = 4, prompt = 64, completion = 64, warmup = 1, steps = 5, threads = 0, k = 64, fpo_top_k = 50;
  int64_t sae_width = 0, lora_r = 0;
  int64_t logits_chunk_size = fpokit::fpo::kDefaultLogitsChunkSize;
  bool share_prompt = true;
  bool gradient_checkpointing = false;
  uint64_t seed = 0;
  app.add_option("--model", model_dir)->required();
  app.add_option("--method", method_name, "dpo, simpo, tdpo1, fpo, kto (any method `fpokit train` takes)");
  app.add_option("--device", device_name);
  app.add_option("--dtype", dtype_name);
  app.add_option("--pairs", pairs, "preference pairs per batch (the data holds exactly one batch)");
  app.add_option("--prompt", prompt, "prompt tokens per sequence");
  app.add_option("--completion", completion, "completion tokens per sequence (chosen and rejected)");
  app.add_option("--warmup", warmup, "untimed optimizer steps first");
  app.add_option("--steps", steps, "timed optimizer steps");
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  app.add_option("--sae-width", sae_width, "FPO: latents of the random TopK SAE (0: 16384 on CUDA, 1024 on CPU)");
  app.add_option("--sae-k", k, "FPO: the SAE's TopK k");
  app.add_option("--fpo-top-k", fpo_top_k, "FPO: the k of the feature MSE D (fpokit train's default 50)");
  app.add_option("--fpo-hook", fpo_hook, "FPO: hook the SAE reads (default: the middle layer's hook_resid_post)");
  app.add_option("--seed", seed);
  app.add_flag("--gradient-checkpointing", gradient_checkpointing, "as fpokit train --gradient-checkpointing");
  app.add_option("--logits-chunk-size", logits_chunk_size,
                 "positions per chunk of the log-prob head (0: full [2·pairs, seq, vocab] logits)");
  app.add_option("--share-prompt", share_prompt,
                 "one trunk pass per pair over the shared prompt (false: two sequences)");
  app.add_option("--lora-r", lora_r, "LoRA rank on q_proj,k_proj,v_proj,o_proj (0: full fine-tuning)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  if (pairs < 1 || prompt < 1 || completion < 1 || steps < 1 || warmup < 0) {
    std::cerr << "bench_train: --pairs, --prompt, --completion and --steps must be positive\n";
    return 2;
  }

  namespace fpo = fpokit::fpo;
  namespace lm = fpokit::lm;
  namespace sae = fpokit::sae;
  const auto device = lm::parse_device(device_name);
  lm::LoadOptions load{device, lm::parse_dtype(dtype_name)};
  const auto method = fpo::parse_method(method_name);
  // As `fpokit train` (training_run.cpp): half precision trains float32 master weights under
  // autocast; LoRA keeps the frozen base in the half type.
  const auto compute_dtype = lm::resolve_dtype(load, lm::load_model_config(model_dir));
  std::optional<torch::ScalarType> autocast;
  if (compute_dtype != torch::kFloat32 && lora_r == 0) {
    autocast = compute_dtype;
    load.dtype = torch::kFloat32;
  }
  auto policy = lm::load_model(model_dir, load);
  const auto& config = policy->config();

  // FPO's SAE: random TopK weights have the cost of a trained SAE of the same shape (the dense
  // encode and the top-k do not depend on the values), so no SAE checkpoint is needed.
  sae::SparseAutoencoder sae_module{nullptr};
  fpo::FeatureProbe probe;
  if (method == fpo::Method::Fpo) {
    if (sae_width <= 0) sae_width = device.is_cuda() ? 16384 : 1024;
    if (fpo_hook.empty()) fpo_hook = "blocks." + std::to_string(config.num_layers / 2) + ".hook_resid_post";
    const auto hook = lm::HookName::parse(fpo_hook);
    lm::Hooks check;
    check.capture(hook);
    check.validate(config, policy->has_resid_mid());
    sae::SaeConfig sc;
    sc.architecture = sae::Architecture::TopK;
    sc.d_in = config.hidden_size;
    sc.d_sae = sae_width;
    sc.k = k;
    sc.hook_name = fpo_hook;
    sc.validate();
    sae_module = sae::SparseAutoencoder(sc);
    sae::initialize_weights(*sae_module, sae::default_init_options(sc.architecture, seed));
    // As `fpokit train` does with a loaded SAE: on the policy's device, frozen, float32.
    sae_module->to(device);
    sae_module->eval();
    for (auto& p : sae_module->parameters()) p.set_requires_grad(false);
    probe = {sae_module.get(), hook, fpo::FpoVariant::Paper};
  }

  fpo::PreferenceTrainerOptions options;
  options.method = method;
  options.loss.fpo.top_k = fpo_top_k;
  options.per_device_train_batch_size = pairs;
  options.max_steps = warmup + steps;
  options.logging_steps = 1;  // the report callback is the per-step clock below
  options.device = device;
  options.seed = seed;
  options.autocast_dtype = autocast;
  options.gradient_checkpointing = gradient_checkpointing;
  options.logits_chunk_size = logits_chunk_size;
  options.share_prompt = share_prompt;
  std::optional<lm::LoraAdapters> adapters;
  if (lora_r > 0) {
    lm::LoraOptions lo;
    lo.r = lora_r;
    lo.alpha = 2.0 * static_cast<double>(lora_r);
    lo.targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
    adapters = lm::LoraAdapters::attach(*policy, lo);
  }
  fpo::PreferenceTrainer trainer(options, policy, synthetic_pairs(pairs, prompt, completion, config.vocab_size, seed),
                                 probe);
  if (adapters) trainer.use_lora(&*adapters);
  if (method == fpo::Method::Kto) {
    // Each pair is a KTO row (the chosen side the example, the rejected side its KL sequence, as
    // kto_training_pairs lays them out); even rows desirable, odd rows undesirable (peer_train.py
    // labels them the same way).
    std::vector<uint8_t> desirable(static_cast<size_t>(pairs));
    for (size_t i = 0; i < desirable.size(); ++i) desirable[i] = i % 2 == 0;
    trainer.use_kto_labels(desirable);
  }

  // The offline reference pass, as `fpokit train` does it: a second copy of the model, one pass,
  // then dropped (TDPO keeps it for its online per-token KL).
  const bool needs_reference =
      method != fpo::Method::Simpo && method != fpo::Method::Orpo && method != fpo::Method::Sft;
  double reference_seconds = 0.0;
  if (needs_reference) {
    auto t0 = Clock::now();
    {
      // LoRA: the reference is the policy with its adapters off, as in `fpokit train`.
      auto reference = adapters ? policy : lm::load_model(model_dir, load);
      trainer.precompute_reference(reference);
    }
    synchronize(device);
    reference_seconds = seconds_since(t0);
  }

#ifdef FPOKIT_WITH_CUDA
  // Peak over the training steps only (model, optimizer state, activations), as the peer resets it.
  const auto cuda_index = static_cast<c10::DeviceIndex>(device.index() < 0 ? 0 : device.index());
  if (device.is_cuda()) c10::getDeviceAllocator(c10::kCUDA)->resetPeakStats(cuda_index);
#endif

  // train() reports after every optimizer step; the clock starts when the warmup's last step
  // has finished. Each step already ends in host reads of the loss and metrics, and the explicit
  // synchronisation makes the stop time exact on CUDA.
  std::optional<Clock::time_point> start;
  if (warmup == 0) start = Clock::now();
  trainer.train([&](const fpo::StepMetrics& m) {
    if (m.step == warmup) {
      synchronize(device);
      start = Clock::now();
    }
  });
  synchronize(device);
  const double seconds = seconds_since(*start);

  const int64_t seq = prompt + completion;
  nlohmann::json out = {{"impl", "fpokit"},
                        {"method", method_name},
                        {"model", model_dir},
                        {"device", device_name},
                        {"dtype", dtype_name},
                        {"mixed_precision", autocast.has_value()},
                        {"gradient_checkpointing", gradient_checkpointing},
                        {"logits_chunk_size", logits_chunk_size},
                        {"share_prompt", share_prompt},
                        {"lora_r", lora_r},
                        {"threads", torch::get_num_threads()},
                        {"pairs", pairs},
                        {"prompt", prompt},
                        {"completion", completion},
                        {"seq", seq},
                        {"warmup", warmup},
                        {"steps", steps},
                        {"seconds", seconds},
                        {"steps_per_s", static_cast<double>(steps) / seconds},
                        {"tokens_per_s", static_cast<double>(2 * pairs * seq * steps) / seconds},
                        {"reference", needs_reference ? (method == fpo::Method::Tdpo1 || method == fpo::Method::Tdpo2
                                                             ? "offline sums + online forward (per-token KL)"
                                                             : "offline")
                                                      : "none"},
                        {"reference_seconds", reference_seconds}};
  if (method == fpo::Method::Fpo) {
    out["sae_width"] = sae_width;
    out["sae_k"] = k;
    out["fpo_hook"] = fpo_hook;
  }
  // ru_maxrss is in KiB on Linux: the process's peak resident set, model loading included.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  out["peak_rss_bytes"] = static_cast<int64_t>(usage.ru_maxrss) * 1024;
#ifdef FPOKIT_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::getDeviceAllocator(c10::kCUDA)->getDeviceStats(cuda_index);
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    out["peak_cuda_allocated_bytes"] = stats.allocated_bytes[all].peak;
    out["peak_cuda_reserved_bytes"] = stats.reserved_bytes[all].peak;
  }
#endif
  std::cout << out.dump() << std::endl;
  return 0;
}
