#pragma once
// The offline activation cache: `fpokit acts cache` writes it, `fpokit sae train --acts FILE.h5`
// reads it (through ActivationFileSource). One HDF5 file, one row per token:
//
//   /                      attributes format = "fpokit-activations", format_version = 1 (int64),
//                          model_name (string), context_size (int64)
//   /activations/<hook>    [rows, d_in] per hook, float32 or uint16 (bfloat16 bit patterns: HDF5
//                          1.10 has no bf16 type); attributes dtype ("float32" | "bfloat16") and
//                          hook_name (authoritative; the dataset name is the same today). Hooks
//                          are listed in the order they were written (creation order).
//   /token_ids             [rows] int32
//   /positions             [rows] int32, the token's position in its context
//   /sequence_ids          [rows] int64, the index of the context row the token came from
//
// Every dataset is chunked along rows (chunk_rows rows per chunk) without compression, and grows
// as rows are appended, so writing streams and reading a range is one hyperslab per dataset.
// Strings are variable-length UTF-8, so h5py reads everything as plain str / numpy arrays.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "fpokit/core/io/hdf5_handle.h"

namespace fpokit::sae {

struct ActivationFileInfo {
  std::string model_name;               // provenance, free text
  std::vector<std::string> hook_names;  // e.g. "blocks.3.hook_resid_post"; one activations dataset each
  std::vector<int64_t> d_in;            // per hook
  int64_t context_size = 0;
  std::string storage_dtype = "float32";  // "float32" or "bfloat16"
  int64_t num_rows = 0;                   // filled by the reader
};

// Writes a temporary sibling of <path> (core::temporary_sibling) and syncs and renames it onto
// <path> in commit(), so a crash or an exception never leaves a half-written cache under the real
// name. Not copyable or movable (hold it in a
// unique_ptr / optional if needed).
class ActivationFileWriter {
 public:
  // Validates `info` (at least one hook, one positive d_in per hook, distinct hook names without
  // '/', a known storage_dtype, chunk_rows > 0) and throws InputError otherwise; creates the
  // parent folder and the temporary file (InputError when that fails).
  ActivationFileWriter(std::filesystem::path path, ActivationFileInfo info, int64_t chunk_rows = 4096);
  // Not committed: closes and deletes the temporary file; no exception escapes.
  ~ActivationFileWriter();
  ActivationFileWriter(const ActivationFileWriter&) = delete;
  ActivationFileWriter& operator=(const ActivationFileWriter&) = delete;

  // Appends n rows. activations: one tensor per hook, in info().hook_names order, [n, d_in[h]], any
  // floating dtype, any device (copied to the CPU and converted to the storage dtype).
  // token_ids, positions: [n] integer tensors (stored int32; values must fit); sequence_ids: [n]
  // integer (stored int64). Wrong counts, shapes or dtypes throw InputError naming the hook and
  // shapes, before anything is written. An HDF5 write failure (disk full) throws InputError and
  // leaves the writer unusable. n == 0 is allowed and writes nothing.
  void append(const std::vector<torch::Tensor>& activations, const torch::Tensor& token_ids,
              const torch::Tensor& positions, const torch::Tensor& sequence_ids);

  int64_t num_rows() const { return rows_; }
  const ActivationFileInfo& info() const { return info_; }  // num_rows counts the rows appended so far
  const std::filesystem::path& path() const { return path_; }

  // Flushes, closes, syncs and renames the temporary file onto path() (replacing an existing file).
  // After this the writer is closed: append() and commit() throw std::logic_error. Throws
  // InputError when flushing or renaming fails (the temporary file is then removed).
  void commit();

 private:
  void close_handles() noexcept;
  void discard() noexcept;

  std::filesystem::path path_;
  std::filesystem::path tmp_path_;
  ActivationFileInfo info_;
  int64_t chunk_rows_;
  int64_t rows_ = 0;
  bool committed_ = false;
  bool broken_ = false;  // an HDF5 write failed half-way: the datasets may disagree
  // file_ first: members die in reverse order, so every dataset is closed before the file.
  core::hdf5::File file_;
  std::vector<core::hdf5::Dataset> activations_;
  core::hdf5::Dataset token_ids_;
  core::hdf5::Dataset positions_;
  core::hdf5::Dataset sequence_ids_;
};

// Opens a cache file and validates everything up front (format, version, attributes, every
// dataset's rank, type and row count), so that a bad file fails at once with one CheckpointError
// line naming the file, the dataset or attribute and what is wrong, not mid-training.
// Reads are hyperslabs straight from the file; the reader holds no rows in memory.
class ActivationFileReader {
 public:
  static constexpr int64_t kFormatVersion = 1;

  explicit ActivationFileReader(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const ActivationFileInfo& info() const { return info_; }
  int64_t num_rows() const { return info_.num_rows; }
  std::optional<size_t> hook_index(std::string_view hook_name) const;

  // Rows [start, start + count) on the CPU. Throws std::out_of_range for a hook index or a range
  // outside the file, CheckpointError when HDF5 cannot read the rows (a damaged file).
  torch::Tensor read_activations(size_t hook_index, int64_t start, int64_t count) const;  // float32 [count, d_in]
  torch::Tensor read_token_ids(int64_t start, int64_t count) const;                       // int64 [count]
  torch::Tensor read_positions(int64_t start, int64_t count) const;                       // int64 [count]
  torch::Tensor read_sequence_ids(int64_t start, int64_t count) const;                    // int64 [count]

 private:
  void check_range(int64_t start, int64_t count) const;
  torch::Tensor read_index_column(const core::hdf5::Dataset& dataset, int64_t start, int64_t count) const;

  std::filesystem::path path_;
  ActivationFileInfo info_;
  core::hdf5::File file_;
  std::vector<core::hdf5::Dataset> activations_;
  core::hdf5::Dataset token_ids_;
  core::hdf5::Dataset positions_;
  core::hdf5::Dataset sequence_ids_;
};

}  // namespace fpokit::sae
