#pragma once
// What `fpokit train` and `fpokit eval-prefs` read the same way: the preference data (pairs, or
// KTO's labelled examples as (example, KL sequence) pairs), the chat template, and FPO's SAE probe.
// One implementation, so that eval-prefs measures a run's rewards on exactly the inputs the run
// trained with.
#include <cstdint>
#include <string>
#include <vector>

#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/fpo/losses/preference_losses.h"
#include "fpokit/fpo/training/pair_forward.h"
#include "fpokit/lm/model/causal_lm.h"
#include "fpokit/sae/model/sparse_autoencoder.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::fpo {

struct LoadedPairs {
  std::vector<TokenizedPair> pairs;
  std::vector<uint8_t> kto_labels;  // KTO only: 1 desirable, 0 undesirable, one per pair
};

// The chat template `name` selects for the model (select_chat_template: by default the model's own
// Jinja template; nullopt: plain strings). `name` is set to the chosen template's name.
PreferenceDataOptions preference_data_options(std::string& name, const std::string& model_dir,
                                              const lm::Tokenizer& tokenizer);

// Reads and tokenises `path` as `method` reads it: chosen/rejected pairs; for sft, plain-text rows
// too (read_sft_data); for kto, prompt/completion/label rows turned into (example, KL sequence)
// pairs in blocks of `kto_block`. Logs the data statistics prefixed by `what` ("", "eval ");
// InputError when nothing usable is left.
LoadedPairs load_pairs(const std::string& path, Method method, const PreferenceDataOptions& data_options,
                       const lm::Tokenizer& tokenizer, const PreferenceTokenizerOptions& tokenization,
                       int64_t kto_block, const std::string& what);

// --packing (sft on plain text): the documents of `path` packed into rows of `row_length` tokens
// exactly as SAELens and `fpokit sae train` pack a corpus (sae::ContextPacker: each document
// followed by BOS, every row starting with BOS; the partial last row is dropped). Each row is one
// language-modelling sequence: every token after the row's first is a target.
LoadedPairs load_packed_text(const std::string& path, const std::string& split, const std::string& text_field,
                             const lm::Tokenizer& tokenizer, int64_t row_length, const std::string& what);

// InputError when a sequence that --max-length lets through is longer than the model's
// max_position_embeddings (naming the data line).
void check_pairs_fit(const std::vector<TokenizedPair>& pairs, const lm::ModelConfig& config);

// FPO's SAE, frozen on `device`, and the probe reading it at `hook` (empty: the SAE's own hook,
// written back). InputError when the hook is missing from the model or the SAE's width differs.
struct LoadedProbe {
  sae::SparseAutoencoder sae{nullptr};
  FeatureProbe probe;
};
LoadedProbe load_feature_probe(const std::string& sae_path, std::string& hook, const lm::CausalLMImpl& policy,
                               const std::string& model_dir, torch::Device device, FpoVariant variant);

}  // namespace fpokit::fpo
