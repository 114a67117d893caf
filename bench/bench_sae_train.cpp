// SAE training-step throughput from activations already in memory (the cost of the trainer
// itself: forward, loss, backward, Adam, decoder handling, dead tracking), printed as one JSON
// line in the same form as bench/peer_sae_train.py so that run_sae_train.sh can put them side by
// side. Data: a fixed set of random Gaussian batches cycled through an in-memory source.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <c10/core/CachingDeviceAllocator.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "fpokit/core/io/atomic_output.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/sae/training/sae_trainer.h"

using namespace fpokit;

namespace {

// Cycles through pre-generated batches forever (position = batch index).
class RandomSource : public sae::ActivationSource {
 public:
  RandomSource(int64_t d, int64_t batch, int n_batches, torch::Device device)
      : hooks_{"blocks.0.hook_resid_post"}, d_in_{d} {
    torch::manual_seed(0);
    for (int i = 0; i < n_batches; ++i)
      batches_.push_back(torch::randn({batch, d}, torch::TensorOptions().device(device)));
    ids_ = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  }
  const std::vector<std::string>& hook_names() const override { return hooks_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return ids_.device(); }
  std::optional<sae::ActivationRows> next() override {
    sae::ActivationRows r;
    r.activations = {batches_[i_++ % batches_.size()]};
    r.token_ids = r.positions = r.sequence_ids = ids_;
    return r;
  }
  nlohmann::json position() const override { return {{"i", i_}}; }
  void seek(const nlohmann::json& p) override { i_ = p.at("i").get<size_t>(); }
  void rewind() override { i_ = 0; }
  std::string describe() const override { return "random"; }

 private:
  std::vector<std::string> hooks_;
  std::vector<int64_t> d_in_;
  std::vector<torch::Tensor> batches_;
  torch::Tensor ids_;
  size_t i_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SAE training-step throughput"};
  int64_t d = 2304, width = 16384, k = 64, batch = 32768;
  int steps = 20, warmup = 3, threads = 0;
  std::string device_name = "cpu", dtype = "float32", arch = "topk";
  bool dense = false;
  std::string profile;
  app.add_option("--d-in", d);
  app.add_option("--width", width);
  app.add_option("--k", k);
  app.add_option("--batch-tokens", batch);
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--device", device_name);
  app.add_option("--dtype", dtype, "float32 or bfloat16 (autocast of the SAE products, CPU or CUDA)");
  app.add_option("--arch", arch);
  app.add_option("--threads", threads);
  app.add_flag("--dense-kernels", dense);
  app.add_option("--profile", profile, "Write a Chrome trace of the timed steps (LibTorch profiler) to this file");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);
  const auto device = lm::parse_device(device_name);

  RandomSource source(d, batch, 2, device);
  sae::TrainerOptions o;
  o.device = device;
  o.batch_tokens = batch;
  o.buffer_tokens = batch;  // one batch per window: no copying beyond the permutation
  o.total_tokens = batch * (steps + warmup);
  o.log_every_steps = 0;
  o.autocast_bf16 = dtype == "bfloat16";
  o.sparse_kernels = !dense;
  o.b_dec_init = sae::DecoderBiasInit::Mean;
  o.init_sample_tokens = 4096;
  sae::SaeSpec spec;
  spec.name = "bench";
  spec.config.architecture = sae::parse_architecture(arch);
  spec.config.d_sae = width;
  spec.config.k = k;
  const auto out = std::filesystem::temp_directory_path() / ("fpokit-bench-sae-" + std::to_string(::getpid()));
  sae::SaeTrainer trainer(o, {spec}, source, out);
  trainer.initialize();

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  // Warm-up steps, then the timed ones (stop_after_tokens splits the run without a restart).
  trainer.set_stop_after_tokens(batch * warmup);
  trainer.run();
  sync();
  trainer.set_stop_after_tokens(0);
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> recording;
    if (!profile.empty()) recording = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    trainer.run();
    sync();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  core::remove_tree(out);
  nlohmann::json j = {{"peer", "fpokit"},
                      {"device", device_name},
                      {"dtype", dtype},
                      {"arch", arch},
                      {"d_in", d},
                      {"width", width},
                      {"k", k},
                      {"batch_tokens", batch},
                      {"steps", steps},
                      {"seconds", seconds},
                      {"tokens_per_s", static_cast<double>(batch) * steps / seconds},
                      {"step_ms", 1000 * seconds / steps},
                      {"threads", torch::get_num_threads()},
                      {"kernels", dense ? "dense" : "sparse"}};
#ifdef FPOKIT_WITH_CUDA
  if (device.is_cuda()) {
    // Whole-run peak, as bench/peer_sae_train.py's peak_mem_bytes (torch.cuda.max_memory_allocated).
    const auto stats = c10::getDeviceAllocator(c10::kCUDA)->getDeviceStats(device.index() < 0 ? 0 : device.index());
    j["peak_mem_bytes"] = stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#endif
  std::cout << j.dump() << std::endl;
}
