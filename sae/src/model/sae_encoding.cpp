#include "fpokit/sae/model/sae_encoding.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"

namespace fpokit::sae {

void encode_activations(const SparseAutoencoderImpl& sae, const torch::Tensor& activations, const std::filesystem::path& out,
                        const EncodeOptions& options, const std::vector<std::pair<std::string, torch::Tensor>>& extra,
                        const std::map<std::string, std::string>& metadata) {
  const auto& c = sae.config();
  if (activations.dim() != 2 || activations.size(1) != c.d_in)
    throw InputError("activations have shape [" + std::to_string(activations.size(0)) + ", " +
                     std::to_string(activations.dim() > 1 ? activations.size(1) : 0) + "] but the SAE takes d_in " +
                     std::to_string(c.d_in) + " (hook " + c.hook_name + ")");
  torch::NoGradGuard no_grad;
  const auto device = sae.W_enc.device();
  const int64_t N = activations.size(0);
  std::vector<torch::Tensor> counts, indices, values, dense, recon;
  for (int64_t start = 0; start < N; start += options.batch_rows) {
    const auto x = activations.slice(0, start, std::min(N, start + options.batch_rows)).to(device, torch::kFloat32);
    const auto f = sae.encode(sae.normalize_input(x));
    const auto nz = f.nonzero();  // row-major: rows ascending, then latents ascending
    counts.push_back(torch::bincount(nz.select(1, 0), {}, x.size(0)).cpu());
    indices.push_back(nz.select(1, 1).to(torch::kCPU, torch::kInt32));
    values.push_back(f.index({nz.select(1, 0), nz.select(1, 1)}).cpu());
    if (options.dense) dense.push_back(f.cpu());
    if (options.reconstruction) recon.push_back(sae.denormalize_output(sae.decode(f), x).cpu());
  }
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  if (options.dense) {
    tensors.emplace_back("features", torch::cat(dense));
  } else {
    const auto all_counts = torch::cat(counts);
    tensors.emplace_back("indptr", torch::cat({torch::zeros({1}, torch::kInt64), all_counts.cumsum(0)}));
    tensors.emplace_back("indices", torch::cat(indices));
    tensors.emplace_back("values", torch::cat(values));
  }
  if (options.reconstruction) tensors.emplace_back("reconstruction", torch::cat(recon));
  for (const auto& e : extra) tensors.emplace_back(e.first, e.second.cpu().contiguous());
  auto meta = metadata;
  meta["format"] = options.dense ? "dense" : "csr";
  meta["d_sae"] = std::to_string(c.d_sae);
  meta["hook_name"] = c.hook_name;
  lm::write_safetensors(out, tensors, meta);
}

torch::Tensor read_activations_tensor(const std::filesystem::path& path) {
  lm::SafetensorsFile file(path);
  if (!file.find("activations"))
    throw InputError(path.string() + ": no tensor named \"activations\" (expected [tokens, d_in])");
  auto t = file.load("activations");
  if (t.dim() != 2) throw InputError(path.string() + ": tensor \"activations\" must be 2-D [tokens, d_in]");
  return t;
}

}  // namespace fpokit::sae
