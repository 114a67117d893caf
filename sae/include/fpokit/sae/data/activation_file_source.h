#pragma once
// Offline activations: streams rows of an `fpokit acts cache` HDF5 file in file order, a block of
// rows at a time (the mixing buffer shuffles them). The file may hold several hooks; the source
// serves the ones asked for, in that order.
#include <filesystem>
#include <memory>

#include "fpokit/sae/data/activation_file.h"
#include "fpokit/sae/data/activation_source.h"

namespace fpokit::sae {

class ActivationFileSource : public ActivationSource {
 public:
  // Empty `hooks`: every hook in the file. Throws InputError for a hook the file lacks (listing the
  // ones it has) and CheckpointError for a corrupt file.
  ActivationFileSource(const std::filesystem::path& path, std::vector<std::string> hooks,
                       torch::Device device = torch::kCPU, int64_t block_rows = 16384);

  const std::vector<std::string>& hook_names() const override { return hook_names_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return device_; }
  std::optional<ActivationRows> next() override;
  nlohmann::json position() const override { return {{"row", row_}}; }
  void seek(const nlohmann::json& position) override;
  void rewind() override { row_ = 0; }
  std::string describe() const override;

  const ActivationFileReader& reader() const { return *reader_; }

 private:
  std::filesystem::path path_;
  std::unique_ptr<ActivationFileReader> reader_;
  std::vector<std::string> hook_names_;
  std::vector<size_t> hook_index_;
  std::vector<int64_t> d_in_;
  torch::Device device_;
  int64_t block_rows_;
  int64_t row_ = 0;
};

}  // namespace fpokit::sae
