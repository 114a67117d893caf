#pragma once
// NumPy .npy / .npz readers (Gemma Scope params.npz). An .npz is a zip archive of "<key>.npy"
// members (np.savez stores them uncompressed, np.savez_compressed deflated; libzip reads both).
// .npy: "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), then a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (16, 48), } padded with spaces
// and a newline, then the C-order data. Supported descr: <f4, <f8, <f2 (little-endian floats),
// <i4, <i8; fortran_order must be False. Errors are CheckpointError naming the file and member.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include <torch/types.h>

namespace fpokit::sae {

// Parses one .npy image held in memory; `where` names it in errors.
torch::Tensor parse_npy(std::string_view bytes, std::string_view where);
// All members of an .npz, keyed without the ".npy" suffix.
std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path);

}  // namespace fpokit::sae
