// Forward throughput and load time of an HF model directory, printed as one JSON line; the peer
// numbers come from bench/peer_forward.py on the same model (bench/run_forward.sh runs both).
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/lm/model/load_model.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fpokit forward benchmark"};
  std::string model_dir, device_name = "cpu", dtype_name = "float32";
  int64_t batch = 4, seq = 128, warmup = 2, iters = 10, threads = 0;
  app.add_option("--model", model_dir)->required();
  app.add_option("--device", device_name);
  app.add_option("--dtype", dtype_name);
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--warmup", warmup);
  app.add_option("--iters", iters);
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));

  const auto device = fpokit::lm::parse_device(device_name);
  auto t0 = std::chrono::steady_clock::now();
  const auto model = fpokit::lm::load_model(model_dir, {device, fpokit::lm::parse_dtype(dtype_name)});
  synchronize(device);
  const double load_s = seconds_since(t0);

  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, model->config().vocab_size, {batch, seq},
                                  torch::TensorOptions(torch::kInt64).device(device));
  for (int64_t i = 0; i < warmup; ++i) model->forward({ids, {}});
  synchronize(device);
  std::vector<double> times;
  for (int64_t i = 0; i < iters; ++i) {
    t0 = std::chrono::steady_clock::now();
    model->forward({ids, {}});
    synchronize(device);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  nlohmann::json out = {{"impl", "fpokit"},
                        {"model", model_dir},
                        {"device", device_name},
                        {"dtype", dtype_name},
                        {"batch", batch},
                        {"seq", seq},
                        {"threads", torch::get_num_threads()},
                        {"load_s", load_s},
                        {"forward_median_s", median},
                        {"tokens_per_s", static_cast<double>(batch * seq) / median}};
  std::cout << out.dump() << std::endl;
  return 0;
}
