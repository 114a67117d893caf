#pragma once
// safetensors files: a memory-mapped, validating reader and an atomic writer.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
// The reader rejects (CheckpointError naming the file and the tensor): a file shorter than 8
// bytes, a header length beyond the file or over 100 MB, JSON that is not an object of the form
// above, an unknown dtype, offsets out of the data section, end < begin, overlapping spans, a
// span whose size is not prod(shape) * itemsize, or a data section the spans do not cover exactly
// (a hole or trailing bytes; like the Rust safetensors crate, which catches truncated files so).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace fpokit::lm {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "F32", "BF16", ... as in the file format
torch::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(torch::ScalarType type);  // throws InputError for unsupported types

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::size_t begin = 0;  // byte offsets relative to the start of the data section
  std::size_t end = 0;
};

// A read-only view of one safetensors file. The file stays mapped while the object lives;
// tensors returned by view() alias the mapping and must not outlive it.
class SafetensorsFile {
 public:
  static constexpr std::size_t kMaxHeaderBytes = 100u * 1000u * 1000u;

  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file (offset) order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr if absent
  const TensorInfo& info(std::string_view name) const;  // throws CheckpointError if absent
  const std::byte* data(const TensorInfo& info) const;

  // A CPU tensor aliasing the mapping (no copy). The mapping is read-only (PROT_READ): an
  // in-place write faults, so clone() first. A tensor not aligned to its item size in the file
  // (never the case in files from the Python library) comes back as an aligned copy instead.
  torch::Tensor view(const TensorInfo& info) const;
  // An owned copy.
  torch::Tensor load(std::string_view name) const;

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::size_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device, contiguous or not; F64/F32/F16/BF16/int/bool) in the given order,
// atomically (core::write_file_atomically): to a temporary sibling, synced, then renamed over
// `path`; on failure the temporary file is removed and an existing `path` is left as it was.
// Names must be unique (InputError otherwise).
// The header is compact JSON padded with spaces to a multiple of 8 bytes, as the Python library
// writes it: given the tensors in the order that library uses (by dtype: I64, F64, F32, I32,
// BF16, F16, I16, I8, U8, BOOL; then by name) and at most one metadata entry (it keeps metadata in
// a hash map, unordered), the file is byte-identical to its output.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace fpokit::lm
