// Where a TopK SAE training step spends its time, part by part, against this machine's ceilings:
// each part of the sparse training path (sae_losses.cpp, sparse_kernels.h, the trainer's
// optimizer and decoder handling) is timed alone on the tensors of one step (median of --reps
// runs), with its FLOPs and the bytes it must move at least, and the roofline time those allow
// at the matrix-product rate and memory bandwidth measured in the same run. Printed as a markdown
// table (docs/BENCHMARKS.md, "Where the SAE step goes"); --json writes one object per part.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "fpokit/core/memory/large_allocations.h"
#include "fpokit/core/train/autocast_scope.h"
#include "fpokit/core/train/gradient_clipping.h"
#include "fpokit/sae/model/row_topk.h"
#include "fpokit/sae/model/sae_losses.h"
#include "fpokit/sae/model/sparse_autoencoder.h"
#include "fpokit/sae/model/sparse_kernels.h"
#include "fpokit/sae/training/fused_update.h"

using namespace fpokit;

namespace {

double median_seconds(int reps, const std::function<void()>& setup, const std::function<void()>& run) {
  std::vector<double> t;
  for (int i = 0; i < reps + 1; ++i) {  // one unrecorded warm-up
    setup();
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Ceilings {
  double fp32_flops, bf16_flops, bytes_per_s;
};

// The best matrix-product rates (a 4096² · 4096 product) and the memory bandwidth: the best of a
// copy (read + write), an in-place scale (read + write, with no write-allocate reads) and a sum
// (read) over a 1 GiB buffer, counting the bytes each moves, on the same threads as the parts.
Ceilings measure_ceilings(int reps) {
  Ceilings c{};
  const int64_t n = 4096;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
    auto out = torch::empty({n, n}, a.options());
    const double s = median_seconds(
        reps, [] {}, [&] { torch::mm_out(out, a, b); });
    (dtype == torch::kFloat32 ? c.fp32_flops : c.bf16_flops) = 2.0 * n * n * n / s;
  }
  const auto src = torch::ones({int64_t{1} << 28});
  auto dst = torch::empty_like(src);
  const double bytes = static_cast<double>(src.nbytes());
  c.bytes_per_s = 2.0 * bytes /
                  median_seconds(
                      reps, [] {}, [&] { dst.copy_(src); });
  c.bytes_per_s = std::max(c.bytes_per_s, 2.0 * bytes /
                                              median_seconds(
                                                  reps, [] {}, [&] { dst.mul_(1.0001); }));
  c.bytes_per_s = std::max(c.bytes_per_s, bytes / median_seconds(
                                                      reps, [] {}, [&] { (void)src.sum(); }));
  return c;
}

struct Part {
  std::string name;
  double seconds = 0, flops = 0, bytes = 0;
  bool matmul = false;  // roofline against the matrix-product rate (else only bandwidth)
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Per-part profile of one TopK SAE training step (CPU) against measured ceilings"};
  int64_t d = 512, F = 16384, k = 32, B = 2048;
  int reps = 5, threads = 0;
  double dead_fraction = 0.05;
  std::string dtype = "float32";
  bool json = false;
  std::string trace;
  app.add_option("--d-in", d)->capture_default_str();
  app.add_option("--width", F)->capture_default_str();
  app.add_option("--k", k)->capture_default_str();
  app.add_option("--batch-tokens", B)->capture_default_str();
  app.add_option("--reps", reps, "Timed runs per part (the median is reported)")->capture_default_str();
  app.add_option("--threads", threads, "Intra-op threads (0: LibTorch's default)")->capture_default_str();
  app.add_option("--dtype", dtype, "float32, or bfloat16 (autocast for the encoder product)")
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  app.add_option("--dead-fraction", dead_fraction, "Dead latents for the AuxK part")->capture_default_str();
  app.add_flag("--json", json, "One JSON object per part instead of the table");
  app.add_option("--trace", trace,
                 "Also write a Chrome trace (LibTorch profiler) of one loss forward+backward with the dead latents");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);
  core::reuse_freed_memory();  // as the SAE trainer does on the CPU

  torch::manual_seed(0);
  const bool bf16 = dtype == "bfloat16";
  const double s_in = bf16 ? 2.0 : 4.0;  // bytes per element of the product's operands

  sae::SaeConfig config;
  config.architecture = sae::Architecture::TopK;
  config.d_in = d;
  config.d_sae = F;
  config.k = k;
  sae::SparseAutoencoder model(config);
  sae::initialize_weights(*model, sae::default_init_options(sae::Architecture::TopK, 0));
  model->train();
  const auto x = torch::randn({B, d});
  const auto x_c = x - model->b_dec.detach();
  const double P = static_cast<double>(2 * d * F + F + d);  // parameters
  const double Bd = static_cast<double>(B * d), dF = static_cast<double>(d * F), BF = static_cast<double>(B * F),
               Bkd = static_cast<double>(B * k * d);

  std::vector<Part> parts;
  auto autocast = [&] {
    return core::AutocastScope(c10::DeviceType::CPU, bf16 ? std::optional(c10::ScalarType::BFloat16) : std::nullopt);
  };

  torch::Tensor pre;
  {
    torch::NoGradGuard g;
    const double s = median_seconds(
        reps, [] {},
        [&] {
          auto scope = autocast();
          pre = torch::addmm(model->b_enc, x_c, model->W_enc);
        });
    // Operands, the (cast) weights and the output: bf16 also reads the float32 weights once.
    parts.push_back({"encoder product x·W_enc", s, 2.0 * BF * d, (Bd + dF + BF) * s_in + (bf16 ? dF * 4 : 0), true});
  }
  sae::SparseSelection sel;
  parts.push_back({"top-k (row_topk)",
                   median_seconds(
                       reps, [] {}, [&] { sel = sae::select_topk(pre, k); }),
                   BF, BF * s_in});
  parts.push_back({"  torch::topk, for comparison",
                   median_seconds(
                       reps, [] {}, [&] { (void)pre.topk(k, -1, true, false); }),
                   BF, BF * s_in});
  torch::Tensor values;
  parts.push_back({std::string("selected values") + (bf16 ? " (float32 recompute)" : " (gather)"),
                   median_seconds(
                       reps, [] {},
                       [&] {
                         torch::NoGradGuard g;
                         values = sae::gather_pre_activations(x, model->b_dec, model->W_enc, model->b_enc, pre, sel);
                       }),
                   bf16 ? 2.0 * Bkd : 0.0, bf16 ? Bkd * 4 + dF * 8 : B * k * 12.0});
  torch::Tensor x_hat;
  parts.push_back({"decoder (gather-sum of k rows)",
                   median_seconds(
                       reps, [] {},
                       [&] {
                         torch::NoGradGuard g;
                         x_hat = sae::sparse_decode(torch::relu(values), sel, model->W_dec, model->b_dec);
                       }),
                   2.0 * Bkd, Bkd * 4 + Bd * 4});
  // The backward pieces, each on its own graph.
  {
    auto v = torch::relu(values).detach().requires_grad_(true);
    torch::Tensor loss;
    const double s = median_seconds(
        reps,
        [&] {
          for (auto* p : {&model->W_dec, &model->b_dec}) p->mutable_grad() = torch::Tensor();
          v.mutable_grad() = torch::Tensor();
          loss = sae::reconstruction_loss(x, sae::sparse_decode(v, sel, model->W_dec, model->b_dec));
        },
        [&] { loss.backward(); });
    // Zero-filled dense dW_dec, the scatter-add of B·k rows, and the gradient of the values.
    parts.push_back({"backward: loss and decoder", s, 4.0 * Bkd, dF * 4 + Bkd * 8 + Bkd * 4});
  }
  {
    const auto gv = torch::randn({B * k});
    torch::Tensor out;
    const double s = median_seconds(
        reps,
        [&] {
          for (auto* p : {&model->W_enc, &model->b_enc, &model->b_dec}) p->mutable_grad() = torch::Tensor();
          out = sae::gather_pre_activations(x, model->b_dec, model->W_enc, model->b_enc, pre, sel);
        },
        [&] { out.backward(gv); });
    // dW_enc = x_cᵀ·G as a gather-sum (reading k rows per token) and its transpose out, and
    // db_dec = −W_enc·db_enc (reading W_enc once).
    parts.push_back({"backward: encoder (sparse)", s, 2.0 * Bkd + 2 * dF, Bkd * 4 + 5 * dF * 4});
  }
  {
    const auto n_dead = static_cast<int64_t>(dead_fraction * static_cast<double>(F));
    auto dead = torch::zeros({F}, torch::kBool);
    dead.slice(0, 0, n_dead).fill_(true);
    sae::LossOptions lo;
    lo.sparse_kernels = true;
    auto fwd_bwd = [&](const torch::Tensor& mask) {
      return median_seconds(
          reps, [&] { model->zero_grad(); },
          [&] {
            auto scope = autocast();
            sae::training_loss(*model, x, lo, mask).total.backward();
          });
    };
    const double with = fwd_bwd(dead), without = fwd_bwd(torch::Tensor());
    if (!trace.empty()) {  // one more forward+backward with the dead latents, op by op
      torch::autograd::profiler::RecordProfile recording(trace);
      model->zero_grad();
      auto scope = autocast();
      sae::training_loss(*model, x, lo, dead).total.backward();
    }
    parts.push_back({"whole loss forward+backward (no dead latents)", without, 0, 0});
    parts.push_back(
        {"AuxK (" + std::to_string(n_dead) + " dead latents), added cost", std::max(0.0, with - without), 0, 0});
  }
  // Gradients in place for the update pieces.
  model->zero_grad();
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p) * 1e-3;
  // The trainer's update on the CPU (fused_update.h): one pass to read, one to write.
  {
    torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
    sae::UpdateSettings settings;
    settings.lr = 1e-4;
    settings.max_grad_norm = 1.0;
    parts.push_back({"parameter update (fused: projection, clipping, Adam, renormalisation)",
                     median_seconds(
                         reps, [] {}, [&] { sae::fused_update(*model, adam, settings); }),
                     16.0 * P, P * 4 * 8});  // reads p, g, m, v twice (p, g) or once; writes p, m, v
  }
  // The same four steps as separate LibTorch ops, for comparison.
  parts.push_back({"  unfused: decoder gradient projection",
                   median_seconds(
                       reps, [] {}, [&] { sae::remove_decoder_gradient_parallel(model->W_dec); }),
                   3.0 * dF, 3 * dF * 4});
  parts.push_back({"  unfused: gradient norm clipping",
                   median_seconds(
                       reps, [] {}, [&] { core::clip_grad_norm(model->parameters(), 1.0); }),
                   2.0 * P, P * 4});
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
  adam.step();  // creates the state
  parts.push_back({"  unfused: Adam step",
                   median_seconds(
                       reps, [] {},
                       [&] {
                         torch::NoGradGuard g;
                         adam.step();
                       }),
                   10.0 * P, P * 4 * 7});  // reads p, g, m, v; writes p, m, v
  parts.push_back({"  unfused: decoder row renormalisation",
                   median_seconds(
                       reps, [] {}, [&] { sae::normalize_decoder_rows(model->W_dec); }),
                   3.0 * dF, 2 * dF * 4});

  const auto ceil = measure_ceilings(std::max(1, reps / 2));
  const double matmul_rate = bf16 ? ceil.bf16_flops : ceil.fp32_flops;
  double total = 0;
  for (const auto& p : parts)
    if (p.name.rfind("  ", 0) != 0 && p.name.rfind("whole", 0) != 0) total += p.seconds;
  if (json) {
    for (const auto& p : parts) {
      const double roof = std::max(p.matmul ? p.flops / matmul_rate : 0.0, p.bytes / ceil.bytes_per_s);
      std::cout << nlohmann::json{{"part", p.name},
                                  {"ms", 1e3 * p.seconds},
                                  {"gflop", p.flops / 1e9},
                                  {"mbytes", p.bytes / 1e6},
                                  {"roofline_ms", 1e3 * roof},
                                  {"fraction_of_roofline", roof > 0 ? roof / p.seconds : 0.0}}
                       .dump()
                << "\n";
    }
    return 0;
  }
  std::printf("TopK d=%lld F=%lld k=%lld, %lld tokens, %s, %d threads\n", static_cast<long long>(d),
              static_cast<long long>(F), static_cast<long long>(k), static_cast<long long>(B), dtype.c_str(),
              torch::get_num_threads());
  std::printf("ceilings (same run): fp32 product %.0f GFLOP/s, bf16 product %.0f GFLOP/s, memory %.1f GB/s\n\n",
              ceil.fp32_flops / 1e9, ceil.bf16_flops / 1e9, ceil.bytes_per_s / 1e9);
  std::printf("| part | ms | share | GFLOP | MB moved | roofline ms | of roofline |\n|---|---|---|---|---|---|---|\n");
  for (const auto& p : parts) {
    const double roof = std::max(p.matmul ? p.flops / matmul_rate : 0.0, p.bytes / ceil.bytes_per_s);
    const bool counted = p.name.rfind("  ", 0) != 0 && p.name.rfind("whole", 0) != 0;
    std::printf("| %s | %.1f | %s | %.2f | %.0f | %s | %s |\n", p.name.c_str(), 1e3 * p.seconds,
                counted ? (std::to_string(static_cast<int>(100 * p.seconds / total + 0.5)) + " %").c_str() : "",
                p.flops / 1e9, p.bytes / 1e6, roof > 0 ? std::to_string(1e3 * roof).substr(0, 5).c_str() : "",
                roof > 0 ? (std::to_string(static_cast<int>(100 * roof / p.seconds + 0.5)) + " %").c_str() : "");
  }
  std::printf("| **sum of the parts** | **%.1f** | | | | | |\n", 1e3 * total);
  std::printf("\n%.0f tokens/s from the sum of the parts\n", static_cast<double>(B) / total);
}
