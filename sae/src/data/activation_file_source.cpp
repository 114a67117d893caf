#include "fpokit/sae/data/activation_file_source.h"

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_integer.h"

namespace fpokit::sae {

ActivationFileSource::ActivationFileSource(const std::filesystem::path& path, std::vector<std::string> hooks,
                                           torch::Device device, int64_t block_rows)
    : path_(path), reader_(std::make_unique<ActivationFileReader>(path)), device_(device), block_rows_(block_rows) {
  const auto& info = reader_->info();
  if (hooks.empty()) hooks = info.hook_names;
  for (const auto& h : hooks) {
    const auto index = reader_->hook_index(h);
    if (!index) {
      std::string have;
      for (const auto& n : info.hook_names) have += (have.empty() ? "" : ", ") + n;
      throw InputError("activation file " + path.string() + " has no hook " + h + " (it has: " + have + ")");
    }
    hook_names_.push_back(h);
    hook_index_.push_back(*index);
    d_in_.push_back(info.d_in.at(*index));
  }
  if (reader_->num_rows() == 0) throw InputError("activation file " + path.string() + " holds no rows");
}

std::optional<ActivationRows> ActivationFileSource::next() {
  const int64_t n = std::min(block_rows_, reader_->num_rows() - row_);
  if (n <= 0) return std::nullopt;
  ActivationRows out;
  for (const auto index : hook_index_) out.activations.push_back(reader_->read_activations(index, row_, n).to(device_));
  out.token_ids = reader_->read_token_ids(row_, n).to(device_);
  out.positions = reader_->read_positions(row_, n).to(device_);
  out.sequence_ids = reader_->read_sequence_ids(row_, n).to(device_);
  row_ += n;
  return out;
}

void ActivationFileSource::seek(const nlohmann::json& position) {
  const auto row = core::json_state_integer(position, "row");
  if (row < 0 || row > reader_->num_rows())
    throw InputError("checkpoint position row " + std::to_string(row) + " is outside activation file " +
                     path_.string() + " (" + std::to_string(reader_->num_rows()) + " rows); was it replaced?");
  row_ = row;
}

std::string ActivationFileSource::describe() const {
  return "offline: " + path_.string() + " (" + std::to_string(reader_->num_rows()) + " rows)";
}

}  // namespace fpokit::sae
