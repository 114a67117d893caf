#pragma once
// Path options that also take a Hugging Face Hub name, resolved in the local hub cache when the
// command line or --config file is read (core/io/hub_cache.h; never a download): --model,
// --ref-model, --base, --aligned and --sae take model repositories (an SAE repository with its
// sub-folder: org/name:layer_12/width_16k/average_l0_71), --data a dataset repository (its
// snapshot folder, whose --split the readers take: core/dataset/dataset_split.h) or a file in it
// (org/name:data/train.jsonl). The option's value becomes the local path, so the config saved in
// an output folder names the exact snapshot.
#include <CLI/CLI.hpp>

#include "fpokit/core/io/hub_cache.h"

namespace fpokit::cli {

CLI::Option* accept_hub_name(CLI::Option* option, core::HubRepoType type);

}  // namespace fpokit::cli
