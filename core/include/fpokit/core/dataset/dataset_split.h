#pragma once
// A dataset given as a folder (a dataset repository as `huggingface-cli download` leaves it, a
// snapshot in the hub cache, a folder of shards) and a split name, resolved to the split's data
// files (record_reader.h formats) the way the `datasets` library finds them offline:
//   1. README.md's YAML header, `configs:` -> the "default" config (else the first) ->
//      `data_files:` -> the entry whose `split:` is the split -> its `path:` glob(s) ("*" within a
//      folder, "**" across folders), relative to the dataset folder; a plain `data_files: GLOB`
//      is the "train" split;
//   2. otherwise datasets' conventions (data_files.py), the first that finds files:
//      push_to_hub's shards "data/{split}-NNNNN-of-NNNNN.*" (any split name: train_prefs, ...);
//      split keywords in folder names; in file names ("train", "training"; "validation",
//      "valid", "dev", "val"; "test", "testing", "eval", "evaluation", as a word between
//      "-", "_", ".", " " or digits); else every file is "train".
// The files come in the order of their relative paths (as datasets reads them) and are read one
// after another (concat_record_reader.h). tests/fixtures/generate_dataset_splits.py records what
// datasets itself reads from such folders; the tests compare.
// No split (empty) means "train" when the folder has that split, as `datasets` and TRL's scripts
// default; otherwise an InputError listing the splits found. A split given with a single file is
// an InputError too (nothing would be split).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fpokit/core/dataset/record_reader.h"

namespace fpokit::core {

// The data files of `split` in the dataset folder `folder`. Throws InputError naming the folder
// and the splits it has when the split has no files.
std::vector<std::filesystem::path> dataset_split_files(const std::filesystem::path& folder, const std::string& split);

// The split names a dataset folder offers, sorted.
std::vector<std::string> dataset_splits(const std::filesystem::path& folder);

// The records of `path`: a file (open_record_reader; `split` must be empty) or a dataset folder's
// split (read file after file).
std::unique_ptr<RecordReader> open_dataset(const std::filesystem::path& path, const std::string& split);

}  // namespace fpokit::core
