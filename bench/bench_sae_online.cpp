// Online SAE training (harvesting + SAE step) against its two halves alone, in one run on the same
// model, corpus and SAE: harvest only (the HarvestingSource drained), train only (the SAE trainer
// on the same activations held in memory), and online with the buffer's background prefetch off
// (harvest, then train, in turn) and on (the next window harvested beside the steps), whatever the
// device's default (--prefetch-buffer auto). Prints one
// JSON line; docs/BENCHMARKS.md has the command and the numbers.
//
// Every rate is steady state: the first buffer window (always read before training can start) is
// served before the clock starts.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/io/atomic_output.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/harvesting_source.h"
#include "fpokit/sae/training/sae_trainer.h"

using namespace fpokit;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Activations harvested once, served again in blocks (the train-only half).
class RowsInMemory : public sae::ActivationSource {
 public:
  RowsInMemory(sae::ActivationRows rows, std::vector<std::string> hooks, std::vector<int64_t> d_in, int64_t block)
      : rows_(std::move(rows)), hooks_(std::move(hooks)), d_in_(std::move(d_in)), block_(block) {}
  const std::vector<std::string>& hook_names() const override { return hooks_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return rows_.token_ids.device(); }
  std::optional<sae::ActivationRows> next() override {
    if (row_ >= rows_.size()) return std::nullopt;
    const int64_t end = std::min(rows_.size(), row_ + block_);
    auto out = rows_.slice(row_, end);
    row_ = end;
    return out;
  }
  nlohmann::json position() const override { return {{"row", row_}}; }
  void seek(const nlohmann::json& p) override { row_ = p.at("row").get<int64_t>(); }
  void rewind() override { row_ = 0; }
  std::string describe() const override { return "in memory"; }

 private:
  sae::ActivationRows rows_;
  std::vector<std::string> hooks_;
  std::vector<int64_t> d_in_;
  int64_t block_;
  int64_t row_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Online SAE training against harvest-only and train-only"};
  std::string model_dir, data, hook, device_name = "cpu", model_dtype = "auto", dtype = "float32";
  int64_t width = 16384, k = 32, batch = 2048, buffer = 32768, windows = 4, context = 128, model_batch = 8;
  int threads = 0;
  app.add_option("--model", model_dir)->required();
  app.add_option("--data", data)->required();
  app.add_option("--hook", hook, "Default: the middle block's hook_resid_post");
  app.add_option("--width", width);
  app.add_option("--k", k);
  app.add_option("--batch-tokens", batch);
  app.add_option("--buffer-tokens", buffer);
  app.add_option("--windows", windows, "Timed buffer windows (after one untimed)");
  app.add_option("--context-size", context);
  app.add_option("--model-batch-size", model_batch);
  app.add_option("--device", device_name);
  app.add_option("--model-dtype", model_dtype);
  app.add_option("--dtype", dtype, "SAE products: float32 or bfloat16 (autocast)");
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);
  const auto device = lm::parse_device(device_name);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };

  std::shared_ptr<const lm::Tokenizer> tokenizer = lm::Tokenizer::from_directory(model_dir);
  auto model = lm::load_model(model_dir, {device, lm::parse_dtype(model_dtype)});
  model->eval();
  if (hook.empty()) hook = "blocks." + std::to_string(model->config().num_layers / 2) + ".hook_resid_post";
  sae::HarvestOptions harvest;
  harvest.context_size = context;
  harvest.batch_sequences = model_batch;
  auto make_source = [&] {
    return std::make_unique<sae::HarvestingSource>(model, tokenizer, std::vector{lm::HookName::parse(hook)}, data,
                                                   harvest);
  };
  // Whole windows: the untimed first one plus the timed ones, each run over the same tokens.
  const int64_t buffer_rows = buffer / batch * batch;
  const int64_t total = buffer_rows * (windows + 1);

  // Harvest only: the source drained for the timed windows' tokens, after one untimed window.
  auto harvesting = make_source();
  std::vector<sae::ActivationRows> parts;
  int64_t harvested = 0;
  double harvest_s = 0;
  while (harvested < total) {
    const auto t0 = Clock::now();
    auto part = harvesting->next();
    sync();
    if (harvested >= buffer_rows) harvest_s += seconds_since(t0);
    if (!part) {
      harvesting->rewind();  // a short corpus: around again (the model's cost is the same)
      continue;
    }
    harvested += part->size();
    parts.push_back(std::move(*part));
  }
  const double harvest_rate = static_cast<double>(harvested - buffer_rows) / harvest_s;

  const auto out_root = std::filesystem::temp_directory_path() / ("fpokit-bench-online-" + std::to_string(::getpid()));
  auto train = [&](sae::ActivationSource& source, bool prefetch, const std::string& name) {
    sae::TrainerOptions o;
    o.device = device;
    o.batch_tokens = batch;
    o.buffer_tokens = buffer_rows;
    o.prefetch_buffer = prefetch;
    o.total_tokens = total;
    o.log_every_steps = 0;
    o.checkpoint_every_tokens = 0;
    o.autocast_bf16 = dtype == "bfloat16";
    o.b_dec_init = sae::DecoderBiasInit::Mean;
    o.init_sample_tokens = 4096;
    sae::SaeSpec spec;
    spec.name = "bench";
    spec.config.architecture = sae::Architecture::TopK;
    spec.config.d_sae = width;
    spec.config.k = k;
    sae::SaeTrainer trainer(o, {spec}, source, out_root / name);
    trainer.initialize();
    trainer.set_stop_after_tokens(buffer_rows);  // the first window, untimed
    trainer.run();
    sync();
    trainer.set_stop_after_tokens(0);
    const auto t0 = Clock::now();
    trainer.run();
    sync();
    return static_cast<double>(total - buffer_rows) / seconds_since(t0);
  };

  RowsInMemory in_memory(sae::ActivationRows::cat(parts), harvesting->hook_names(), harvesting->d_in(), 8 * context);
  parts.clear();
  const double train_rate = train(in_memory, false, "train-only");
  auto sequential_source = make_source();
  const double sequential_rate = train(*sequential_source, false, "sequential");
  auto overlapped_source = make_source();
  const double overlapped_rate = train(*overlapped_source, true, "overlapped");
  core::remove_tree(out_root);

  const double slower = std::min(harvest_rate, train_rate);
  // Both halves use every core here, so the best an overlap can do on one machine is no idle
  // time: the harmonic sum of the two rates.
  const double work_bound = 1 / (1 / harvest_rate + 1 / train_rate);
  nlohmann::json j = {{"device", device_name},
                      {"threads", torch::get_num_threads()},
                      {"model", model_dir},
                      {"hook", hook},
                      {"width", width},
                      {"k", k},
                      {"dtype", dtype},
                      {"batch_tokens", batch},
                      {"buffer_tokens", buffer_rows},
                      {"timed_tokens", total - buffer_rows},
                      {"harvest_tokens_per_s", harvest_rate},
                      {"train_tokens_per_s", train_rate},
                      {"online_sequential_tokens_per_s", sequential_rate},
                      {"online_overlapped_tokens_per_s", overlapped_rate},
                      {"overlapped_over_slower", overlapped_rate / slower},
                      {"overlapped_over_sequential", overlapped_rate / sequential_rate},
                      {"work_bound_tokens_per_s", work_bound},
                      {"overlapped_over_work_bound", overlapped_rate / work_bound}};
  std::cout << j.dump() << std::endl;
}
