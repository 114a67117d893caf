// Writes the HDF5 seed files of the activation-file and reference-cache harnesses with fpokit's own
// writers (ActivationFileWriter, save_reference_cache): there are no committed HDF5 fixtures, and
// the seeds must be files fpokit wrote. Run once by hand; its output is committed:
//   build-fuzz/tests/fuzz/make_hdf5_seeds tests/fuzz/corpus
// HDF5 stamps object times, so a rerun writes different bytes for the same content.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "fpokit/fpo/training/reference_cache.h"
#include "fpokit/sae/data/activation_file.h"

namespace fs = std::filesystem;

namespace {

void write_activations(const fs::path& path, const std::vector<int64_t>& d_in, const std::string& dtype, int64_t rows,
                       int64_t chunk_rows) {
  fpokit::sae::ActivationFileInfo info;
  info.model_name = "tiny-llama";
  info.context_size = 8;
  info.storage_dtype = dtype;
  info.d_in = d_in;
  for (size_t h = 0; h < d_in.size(); ++h)
    info.hook_names.push_back("blocks." + std::to_string(h) + ".hook_resid_post");
  fpokit::sae::ActivationFileWriter writer(path, info, chunk_rows);
  std::vector<torch::Tensor> acts;
  for (const int64_t d : d_in) acts.push_back(torch::randn({rows, d}));
  const auto ids = torch::arange(rows, torch::kInt64);
  writer.append(acts, ids, ids.remainder(8), ids.div(8, "floor"));
  writer.commit();
}

void write_reference(const fs::path& path, int64_t pairs, int64_t width) {
  fpokit::fpo::PreferenceTrainer::ReferenceValues v;
  v.chosen_sum = -torch::rand({pairs}) * 10;
  v.chosen_mean = v.chosen_sum / 4;
  v.chosen_tokens = torch::full({pairs}, 4.0);
  v.rejected_sum = -torch::rand({pairs}) * 10;
  v.rejected_mean = v.rejected_sum / 5;
  v.rejected_tokens = torch::full({pairs}, 5.0);
  if (width > 0) {
    v.chosen_pooled = torch::relu(torch::randn({pairs, width}) - 0.5);
    v.rejected_pooled = torch::relu(torch::randn({pairs, width}) - 0.5);
  }
  // The fingerprint fuzz_reference_cache.cpp passes.
  fpokit::fpo::save_reference_cache(path, v, R"({"fuzz":1})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_hdf5_seeds CORPUS_DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  torch::manual_seed(0);
  const fs::path corpus = argv[1];
  fs::create_directories(corpus / "activation_file");
  fs::create_directories(corpus / "reference_cache");
  write_activations(corpus / "activation_file" / "float32_two_hooks.h5", {4, 3}, "float32", 6, 4);
  write_activations(corpus / "activation_file" / "bfloat16.h5", {8}, "bfloat16", 3, 2);
  write_activations(corpus / "activation_file" / "empty.h5", {2}, "float32", 0, 1);
  write_reference(corpus / "reference_cache" / "dpo.h5", 3, 0);
  write_reference(corpus / "reference_cache" / "fpo_pooled.h5", 3, 6);
  write_reference(corpus / "reference_cache" / "empty.h5", 0, 0);
  return 0;
}
