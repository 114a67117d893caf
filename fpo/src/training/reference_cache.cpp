#include "fpokit/fpo/training/reference_cache.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/hdf5_structure_check.h"

namespace fpokit::fpo {

namespace fs = std::filesystem;
namespace h5 = fpokit::core::hdf5;

namespace {

constexpr const char* kFormat = "fpokit-reference-cache";
// The widest SAE a pooled-feature cache is read for (2^24 latents, wider than any published SAE):
// a damaged width attribute must not turn into a dense allocation of any size.
constexpr int64_t kMaxPooledWidth = int64_t{1} << 24;
constexpr const char* kVectors[] = {"chosen_sum",   "chosen_mean",   "chosen_tokens",
                                    "rejected_sum", "rejected_mean", "rejected_tokens"};

torch::Tensor* vector_field(PreferenceTrainer::ReferenceValues& v, int i) {
  torch::Tensor* fields[] = {&v.chosen_sum,   &v.chosen_mean,   &v.chosen_tokens,
                             &v.rejected_sum, &v.rejected_mean, &v.rejected_tokens};
  return fields[i];
}

void write_vector(hid_t file, const std::string& name, const torch::Tensor& t) {
  const auto data = t.to(torch::kCPU, torch::kFloat64).contiguous();
  auto ds = h5::create_row_dataset(file, name, H5T_IEEE_F64LE, {},
                                   std::max<int64_t>(1, std::min<int64_t>(data.numel(), 65536)));
  h5::append_rows(ds.get(), H5T_NATIVE_DOUBLE, data.data_ptr<double>(), data.numel());
}

torch::Tensor read_vector(hid_t file, const std::string& name, const fs::path& path) {
  if (!h5::has_link(file, name))
    throw CheckpointError("reference cache " + path.string() + ": dataset " + name +
                          " is missing; delete the file to recompute it");
  auto ds = h5::open_dataset(file, name);
  const auto shape = h5::dataset_shape(ds.get());
  // A damaged file may declare any shape: one value per row, and every row stored (the writer
  // writes them all; rows never written would be read as fill values into a buffer of the
  // declared size).
  if (shape.size() != 1 || H5Dget_storage_size(ds.get()) < static_cast<hsize_t>(shape[0]) * sizeof(double))
    throw CheckpointError("reference cache " + path.string() + ": dataset " + name +
                          " is not a stored 1-D array; delete the file to recompute it");
  auto out = torch::empty({shape[0]}, torch::kFloat64);
  if (shape[0] > 0) h5::read_rows(ds.get(), H5T_NATIVE_DOUBLE, 0, shape[0], out.data_ptr<double>());
  return out;
}

void write_pooled(hid_t file, const std::string& prefix, const torch::Tensor& pooled) {
  const auto p = pooled.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto nz = p.nonzero();
  const auto counts = torch::bincount(nz.select(1, 0), {}, p.size(0));
  const auto indptr = torch::cat({torch::zeros({1}, torch::kInt64), counts.cumsum(0)}).to(torch::kFloat64);
  write_vector(file, prefix + "_indptr", indptr);
  write_vector(file, prefix + "_indices", nz.select(1, 1).to(torch::kFloat64));
  write_vector(file, prefix + "_values", p.index({nz.select(1, 0), nz.select(1, 1)}).to(torch::kFloat64));
  h5::write_int64_attribute(file, prefix + "_width", p.size(1));
}

torch::Tensor read_pooled(hid_t file, const std::string& prefix, int64_t pairs, const fs::path& path) {
  const auto indptr = read_vector(file, prefix + "_indptr", path).to(torch::kInt64);
  const auto indices = read_vector(file, prefix + "_indices", path).to(torch::kInt64);
  const auto values = read_vector(file, prefix + "_values", path).to(torch::kFloat32);
  const auto width = h5::read_int64_attribute(file, prefix + "_width");
  if (!width) throw CheckpointError("reference cache " + path.string() + ": attribute " + prefix + "_width is missing");
  // CSR: indptr starts at 0, never decreases and ends at the number of values; every column index
  // lies in [0, width). Checked before use: torch would throw its own index errors, or worse.
  const auto bad_csr = [&] {
    return CheckpointError("reference cache " + path.string() + ": " + prefix +
                           " CSR arrays disagree; delete the file to recompute it");
  };
  if (*width < 1 || *width > kMaxPooledWidth || indptr.numel() != pairs + 1) throw bad_csr();
  const int64_t n = pairs;
  if (indptr[0].item<int64_t>() != 0 || (indptr.diff() < 0).any().item<bool>() ||
      indptr[n].item<int64_t>() != indices.numel() || indices.numel() != values.numel() ||
      (indices.numel() > 0 && (indices.min().item<int64_t>() < 0 || indices.max().item<int64_t>() >= *width)))
    throw bad_csr();
  const auto rows = torch::repeat_interleave(indptr.diff());
  auto out = torch::zeros({n, *width}, torch::kFloat32);
  if (values.numel() > 0) out.index_put_({rows, indices}, values);
  return out;
}

}  // namespace

void save_reference_cache(const fs::path& path, const PreferenceTrainer::ReferenceValues& values,
                          const std::string& fingerprint) {
  h5::silence_error_printing();
  // The temporary file is removed when any write below throws (an undefined tensor, a full disk).
  core::write_file_atomically(path, [&](const fs::path& tmp) {
    const auto failed_closes_at_start = h5::failed_closes();
    auto file = h5::create_file(tmp);
    h5::write_string_attribute(file.get(), "format", kFormat);
    h5::write_string_attribute(file.get(), "fingerprint", fingerprint);
    auto v = values;
    for (int i = 0; i < 6; ++i) write_vector(file.get(), kVectors[i], *vector_field(v, i));
    if (values.chosen_pooled.defined()) {
      write_pooled(file.get(), "chosen_pooled", values.chosen_pooled);
      write_pooled(file.get(), "rejected_pooled", values.rejected_pooled);
    }
    h5::finish_file(file, path, failed_closes_at_start);
  });
}

std::optional<PreferenceTrainer::ReferenceValues> load_reference_cache(const fs::path& path,
                                                                       const std::string& fingerprint,
                                                                       bool stale_is_error) {
  if (!fs::exists(path)) return std::nullopt;
  h5::silence_error_printing();
  // libhdf5 1.10 can crash or hang on a damaged file in reads open_file's generic structure check
  // cannot make (attributes opened by name): read the cache the way this function does, in a child
  // process first (hdf5_structure_check.h). A cache is read once per run; the child reads it too.
  try {
    h5::check_in_child(path, [&] { (void)load_reference_cache(path, fingerprint, stale_is_error); });
  } catch (const h5::Error& e) {
    throw CheckpointError("reference cache " + std::string(e.what()) + "; delete it to recompute it");
  }
  h5::File file;
  try {
    file = h5::open_file(path);
  } catch (const InputError& e) {
    throw CheckpointError("reference cache " + path.string() +
                          " is not a readable HDF5 file; delete it to recompute it");
  }
  if (h5::read_string_attribute(file.get(), "format").value_or("") != kFormat)
    throw CheckpointError("reference cache " + path.string() +
                          " is not an fpokit reference cache; delete it or choose another path");
  const auto saved = h5::read_string_attribute(file.get(), "fingerprint").value_or("");
  if (saved != fingerprint) {
    if (stale_is_error)
      throw InputError("reference cache " + path.string() +
                       " was computed for other settings (model, data, tokenisation or SAE): " +
                       "delete it, or drop --require-reference-cache to recompute it");
    return std::nullopt;
  }
  PreferenceTrainer::ReferenceValues v;
  for (int i = 0; i < 6; ++i) {
    *vector_field(v, i) = read_vector(file.get(), kVectors[i], path).to(torch::kFloat32);
    if (vector_field(v, i)->numel() != v.chosen_sum.numel())
      throw CheckpointError("reference cache " + path.string() + ": dataset " + kVectors[i] + " has " +
                            std::to_string(vector_field(v, i)->numel()) + " values but chosen_sum has " +
                            std::to_string(v.chosen_sum.numel()) + "; delete the file to recompute it");
  }
  if (h5::has_link(file.get(), "chosen_pooled_indptr")) {
    v.chosen_pooled = read_pooled(file.get(), "chosen_pooled", v.chosen_sum.numel(), path);
    v.rejected_pooled = read_pooled(file.get(), "rejected_pooled", v.chosen_sum.numel(), path);
  }
  return v;
}

}  // namespace fpokit::fpo
