#pragma once
// The key of the offline reference cache (reference_cache.h): everything the cached values depend
// on, by content (core/io/content_fingerprint.h), so that any change recomputes them:
//   the reference model's files (weights, config), the tokenizer files of the model the data is
//   tokenised with, the data file (and a held-out eval file), every setting that changes
//   tokenisation (chat template, max lengths, truncation), the reference dtype, KTO's block size,
//   the eval split; for FPO the SAE's files, the hook and the variant (pooling).
// Moving or renaming a folder keeps the key (content, not paths). docs/methods.md, 'Reference model'.
#include <string>

#include <nlohmann/json.hpp>

#include "fpokit/fpo/training/training_run.h"

namespace fpokit::fpo {

// `reference_dir`: the model the reference pass runs (--ref-model, or the model itself);
// `features`: the cache holds FPO's pooled SAE features. A JSON text.
std::string reference_fingerprint(const PreferenceRunOptions& options, const std::string& reference_dir, bool features);

// Which records and fields of the data files a run reads and how they are rendered, where that
// differs from the defaults: a folder's split, renamed fields, the date a clock-reading chat
// template wrote, a --chat-template .jinja file's content; empty otherwise, so that the keys of
// runs on plain files with TRL's field names stay what they were.
nlohmann::json data_selection_identity(const PreferenceRunOptions& options);

}  // namespace fpokit::fpo
