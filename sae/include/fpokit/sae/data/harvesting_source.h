#pragma once
// Online activations: packs a text corpus into context rows (context_packer.h), runs the model on
// a batch of rows with read hooks at every requested hook point, and stops the forward right after
// the deepest hooked layer. Several hooks come from the same pass, so SAEs on different layers
// train from one model forward. Excluded rows: special tokens (BOS, EOS, padding, the row-start
// separator; SAELens exclude_special_tokens) and, optionally, high-norm outliers (attention sinks:
// any hook's ‖x‖ above exclude_norm_multiple × that hook's median norm over the batch's
// non-special tokens, whatever the other hooks drop; as dictionary_learning's
// max_activation_norm_multiple).
#include <memory>
#include <string>
#include <vector>

#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/sae/data/activation_source.h"
#include "fpokit/sae/data/context_packer.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::sae {

struct HarvestOptions {
  int64_t context_size = 0;     // 0: lm::resolve_context_size's default (logged)
  int64_t batch_sequences = 8;  // context rows per model forward
  bool exclude_special_tokens = true;
  double exclude_norm_multiple = 0;  // <= 0: keep outliers
  std::string text_field = "text";
  std::string split;  // a dataset folder's split (core/dataset/dataset_split.h); empty for a file
};

class HarvestingSource : public ActivationSource {
 public:
  // Throws InputError for a hook that the model lacks (layer out of range, resid_mid on a
  // parallel-residual model) and for an unreadable dataset.
  HarvestingSource(lm::CausalLM model, std::shared_ptr<const lm::Tokenizer> tokenizer,
                   const std::vector<lm::HookName>& hooks, const std::filesystem::path& data, HarvestOptions options);

  const std::vector<std::string>& hook_names() const override { return hook_names_; }
  const std::vector<int64_t>& d_in() const override { return d_in_; }
  torch::Device device() const override { return special_ids_.device(); }
  std::optional<ActivationRows> next() override;
  nlohmann::json position() const override;
  void seek(const nlohmann::json& position) override;
  void rewind() override { seek(nlohmann::json{{"offset", 0}, {"line", 0}, {"token_offset", 0}, {"rows", 0}}); }
  std::string describe() const override;

  const HarvestOptions& options() const { return options_; }
  int64_t rows_read() const { return rows_read_; }  // context rows consumed so far
  int64_t tokens_excluded() const { return tokens_excluded_; }

 private:
  lm::CausalLM model_;
  std::shared_ptr<const lm::Tokenizer> tokenizer_;
  std::vector<lm::HookName> hooks_;
  std::vector<std::string> hook_names_;
  std::vector<int64_t> d_in_;
  std::string context_note_;  // lm::ContextSize::note, logged at the end of the constructor
  HarvestOptions options_;
  std::filesystem::path data_path_;
  TextDataset dataset_;
  ContextPacker packer_;
  torch::Tensor special_ids_;  // bool [vocab] on the model's device
  int64_t rows_read_ = 0;
  int64_t tokens_excluded_ = 0;
};

}  // namespace fpokit::sae
