#include "fpokit/sae/data/activation_file.h"

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/hdf5_structure_check.h"

namespace fpokit::sae {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "fpokit-activations";
constexpr const char* kRecreate = "re-create it with `fpokit acts cache`";
constexpr const char* kActivationsGroup = "activations";
constexpr const char* kTokenIds = "token_ids";
constexpr const char* kPositions = "positions";
constexpr const char* kSequenceIds = "sequence_ids";

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool is_bfloat16(const std::string& storage_dtype) { return storage_dtype == "bfloat16"; }
bool known_dtype(const std::string& storage_dtype) { return storage_dtype == "float32" || storage_dtype == "bfloat16"; }

// "4-byte floats", "2-byte integers", ...: what a dataset really stores, for messages.
std::string type_text(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return std::to_string(size) + "-byte floats";
    case H5T_INTEGER: return std::to_string(size) + "-byte integers";
    case H5T_STRING: return "strings";
    case H5T_COMPOUND: return "compound records";
    default: return "values of an unsupported HDF5 type class";
  }
}

// "[start, start + count)" without overflowing int64.
std::string range_text(int64_t start, int64_t count) {
  const bool fits = count >= 0 && start <= std::numeric_limits<int64_t>::max() - count;
  return "[" + std::to_string(start) + ", " +
         (fits ? std::to_string(start + count) : std::to_string(start) + " + " + std::to_string(count)) + ")";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

ActivationFileWriter::ActivationFileWriter(fs::path path, ActivationFileInfo info, int64_t chunk_rows)
    : path_(std::move(path)), info_(std::move(info)), chunk_rows_(chunk_rows) {
  const std::string where = "activation file " + path_.string();
  const size_t hooks = info_.hook_names.size();
  if (hooks == 0) throw InputError(where + ": no hooks to cache; name at least one");
  if (info_.d_in.size() != hooks)
    throw InputError(where + ": " + std::to_string(info_.d_in.size()) + " d_in values for " + std::to_string(hooks) +
                     " hooks (" + join(info_.hook_names) + ")");
  std::set<std::string> seen;
  for (size_t h = 0; h < hooks; ++h) {
    const std::string& name = info_.hook_names[h];
    // The hook name is also the dataset name inside /activations: one HDF5 path component.
    if (name.empty() || name == "." || name.find('/') != std::string::npos)
      throw InputError(where + ": invalid hook name '" + name + "' (must be non-empty, not '.', no '/')");
    if (!seen.insert(name).second) throw InputError(where + ": hook " + name + " is listed twice");
    if (info_.d_in[h] <= 0)
      throw InputError(where + ": hook " + name + " has d_in " + std::to_string(info_.d_in[h]) +
                       "; it must be positive");
  }
  if (!known_dtype(info_.storage_dtype))
    throw InputError(where + ": unknown storage dtype '" + info_.storage_dtype + "' (expected float32 or bfloat16)");
  if (chunk_rows_ <= 0) throw InputError(where + ": chunk_rows must be positive, got " + std::to_string(chunk_rows_));
  if (info_.context_size < 0)
    throw InputError(where + ": context_size must not be negative, got " + std::to_string(info_.context_size));
  info_.num_rows = 0;

  // The file stays open across append() calls, so this writer uses the two halves of
  // core::write_file_atomically: a temporary name now, the sync and rename in commit().
  tmp_path_ = core::temporary_sibling(path_);
  std::error_code ec;
  if (path_.has_parent_path() && !fs::exists(path_.parent_path(), ec)) {
    fs::create_directories(path_.parent_path(), ec);
    if (ec) throw InputError(where + ": cannot create folder " + path_.parent_path().string() + ": " + ec.message());
  }
  try {
    file_ = core::hdf5::create_file(tmp_path_);
    const hid_t root = file_.get();
    core::hdf5::write_string_attribute(root, "format", kFormat);
    core::hdf5::write_int64_attribute(root, "format_version", ActivationFileReader::kFormatVersion);
    core::hdf5::write_string_attribute(root, "model_name", info_.model_name);
    core::hdf5::write_int64_attribute(root, "context_size", info_.context_size);
    // Creation order is tracked so the reader lists hooks in the order given here.
    core::hdf5::Group group = core::hdf5::create_group(root, kActivationsGroup, /*track_creation_order=*/true);
    const hid_t storage = is_bfloat16(info_.storage_dtype) ? H5T_STD_U16LE : H5T_IEEE_F32LE;
    for (size_t h = 0; h < hooks; ++h) {
      core::hdf5::Dataset d =
          core::hdf5::create_row_dataset(group.get(), info_.hook_names[h], storage, {info_.d_in[h]}, chunk_rows_);
      core::hdf5::write_string_attribute(d.get(), "dtype", info_.storage_dtype);
      core::hdf5::write_string_attribute(d.get(), "hook_name", info_.hook_names[h]);
      activations_.push_back(std::move(d));
    }
    token_ids_ = core::hdf5::create_row_dataset(root, kTokenIds, H5T_STD_I32LE, {}, chunk_rows_);
    positions_ = core::hdf5::create_row_dataset(root, kPositions, H5T_STD_I32LE, {}, chunk_rows_);
    sequence_ids_ = core::hdf5::create_row_dataset(root, kSequenceIds, H5T_STD_I64LE, {}, chunk_rows_);
  } catch (const core::hdf5::Error& e) {
    discard();  // no destructor runs for a constructor that throws
    throw InputError(where + ": cannot create the cache file: " + e.what());
  } catch (...) {
    discard();
    throw;
  }
}

ActivationFileWriter::~ActivationFileWriter() {
  if (!committed_) discard();
}

void ActivationFileWriter::close_handles() noexcept {
  for (auto& d : activations_) d.reset();
  activations_.clear();
  token_ids_.reset();
  positions_.reset();
  sequence_ids_.reset();
  file_.reset();
}

void ActivationFileWriter::discard() noexcept {
  close_handles();
  try {
    std::error_code ec;
    if (!tmp_path_.empty()) fs::remove(tmp_path_, ec);
  } catch (...) {
    // Only allocation can throw here; the temporary file then stays, which is harmless.
  }
}

namespace {

// [n] integers on the CPU as int32, refusing values that int32 cannot hold (a wider dtype is
// narrowed silently by .to(kInt32) otherwise).
torch::Tensor to_int32_column(const torch::Tensor& t, const std::string& where, const char* name) {
  torch::Tensor cpu = t.detach().to(torch::kCPU);
  if (cpu.scalar_type() != torch::kInt32 && c10::elementSize(cpu.scalar_type()) >= 4 && cpu.numel() > 0) {
    const torch::Tensor wide = cpu.to(torch::kInt64);
    const int64_t lo = wide.min().item<int64_t>();
    const int64_t hi = wide.max().item<int64_t>();
    if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max())
      throw InputError(where + ": append: " + name + " holds values in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], outside the int32 range they are stored in");
  }
  return cpu.to(torch::kInt32).contiguous();
}

}  // namespace

void ActivationFileWriter::append(const std::vector<torch::Tensor>& activations, const torch::Tensor& token_ids,
                                  const torch::Tensor& positions, const torch::Tensor& sequence_ids) {
  const std::string where = "activation file " + path_.string();
  if (committed_) throw std::logic_error(where + ": append() after commit()");
  if (broken_) throw InputError(where + ": an earlier write to this cache failed; it cannot be appended to");

  // Everything is checked before the first row is written, so a bad call leaves the file intact.
  auto check_column = [&](const torch::Tensor& t, const char* name) {
    if (!t.defined()) throw InputError(where + ": append: " + name + " is an undefined tensor");
    if (t.dim() != 1) throw InputError(where + ": append: " + name + " has shape " + shape_text(t) + ", expected [n]");
    if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/false))
      throw InputError(where + ": append: " + name + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                       ", expected an integer dtype");
  };
  check_column(token_ids, kTokenIds);
  check_column(positions, kPositions);
  check_column(sequence_ids, kSequenceIds);
  const int64_t n = token_ids.size(0);
  for (const auto& [column, name] : {std::pair{&positions, kPositions}, std::pair{&sequence_ids, kSequenceIds}}) {
    if (column->size(0) != n)
      throw InputError(where + ": append: " + name + " has shape " + shape_text(*column) + " but token_ids has " +
                       shape_text(token_ids) + "; every column needs one value per row");
  }
  const size_t hooks = info_.hook_names.size();
  if (activations.size() != hooks)
    throw InputError(where + ": append got " + std::to_string(activations.size()) + " activation tensors for " +
                     std::to_string(hooks) + " hooks (" + join(info_.hook_names) + ")");
  for (size_t h = 0; h < hooks; ++h) {
    const torch::Tensor& a = activations[h];
    const std::string hook = "hook " + info_.hook_names[h];
    const std::string expected = "[" + std::to_string(n) + ", " + std::to_string(info_.d_in[h]) + "]";
    if (!a.defined()) throw InputError(where + ": append: " + hook + ": activations are an undefined tensor");
    if (a.dim() != 2 || a.size(0) != n || a.size(1) != info_.d_in[h])
      throw InputError(where + ": append: " + hook + ": activations have shape " + shape_text(a) + ", expected " +
                       expected + " (rows = token_ids length, columns = d_in)");
    if (!at::isFloatingType(a.scalar_type()))
      throw InputError(where + ": append: " + hook + ": activations have dtype " +
                       std::string(c10::toString(a.scalar_type())) + ", expected a floating dtype");
  }
  if (n == 0) return;
  const torch::Tensor tokens32 = to_int32_column(token_ids, where, kTokenIds);
  const torch::Tensor positions32 = to_int32_column(positions, where, kPositions);
  const torch::Tensor sequences64 = sequence_ids.detach().to(torch::kCPU, torch::kInt64).contiguous();

  const bool bf16 = is_bfloat16(info_.storage_dtype);
  const torch::ScalarType storage = bf16 ? torch::kBFloat16 : torch::kFloat32;
  // bfloat16 goes to disk as its raw 16 bits; HDF5 copies them as uint16 without conversion.
  const hid_t memory_type = bf16 ? H5T_NATIVE_UINT16 : H5T_NATIVE_FLOAT;
  try {
    // One hook at a time, so only one hook's CPU copy exists at once.
    for (size_t h = 0; h < hooks; ++h) {
      const torch::Tensor cpu = activations[h].detach().to(torch::kCPU, storage).contiguous();
      core::hdf5::append_rows(activations_[h].get(), memory_type, cpu.data_ptr(), n);
    }
    core::hdf5::append_rows(token_ids_.get(), H5T_NATIVE_INT32, tokens32.data_ptr(), n);
    core::hdf5::append_rows(positions_.get(), H5T_NATIVE_INT32, positions32.data_ptr(), n);
    core::hdf5::append_rows(sequence_ids_.get(), H5T_NATIVE_INT64, sequences64.data_ptr(), n);
  } catch (const core::hdf5::Error& e) {
    broken_ = true;  // some datasets may have grown and others not
    throw InputError(where + ": writing rows failed (disk full?): " + e.what());
  } catch (...) {
    broken_ = true;
    throw;
  }
  rows_ += n;
  info_.num_rows = rows_;
}

void ActivationFileWriter::commit() {
  const std::string where = "activation file " + path_.string();
  if (committed_) throw std::logic_error(where + ": commit() called twice (the writer is closed after the first)");
  committed_ = true;  // from here on every path either renames the file or removes it
  if (broken_) {
    discard();
    throw InputError(where + ": an earlier write failed, so the cache was not written");
  }
  // Closing flushes HDF5's caches, so a full disk shows up here; keep the first reason.
  std::string failure;
  auto close = [&](auto& handle, const std::string& what) {
    if (!handle.close() && failure.empty()) {
      const std::string reason = core::hdf5::last_error_reason();
      failure = "cannot finish writing " + what + (reason.empty() ? "" : " (HDF5: " + reason + ")");
    }
  };
  for (size_t h = 0; h < activations_.size(); ++h) close(activations_[h], "activations/" + info_.hook_names[h]);
  activations_.clear();
  close(token_ids_, kTokenIds);
  close(positions_, kPositions);
  close(sequence_ids_, kSequenceIds);
  close(file_, tmp_path_.string());
  if (!failure.empty()) {
    discard();
    throw InputError(where + ": " + failure + "; is the disk full?");
  }
  try {
    core::commit_temporary_file(tmp_path_, path_);  // removes the temporary file when it fails
  } catch (const InputError& e) {
    throw InputError("activation file " + std::string(e.what()));
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

ActivationFileReader::ActivationFileReader(const fs::path& path) : path_(path) {
  const std::string where = "activation file " + path_.string();
  auto bad = [&](const std::string& what) { return CheckpointError(where + ": " + what); };
  std::error_code ec;
  const fs::file_status status = fs::status(path_, ec);
  if (!fs::exists(status)) throw CheckpointError(where + " does not exist");
  if (fs::is_directory(status)) throw CheckpointError(where + " is a folder, not an HDF5 file");

  // libhdf5 1.10 can crash or hang on a damaged file in reads the generic structure check of
  // open_file cannot make (an attribute it opens by name when iterating them fails): read the file
  // the way this reader does, first and last rows included, in a child process first.
  try {
    core::hdf5::check_in_child(path_, [this] {
      const ActivationFileReader probe(path_);
      const int64_t rows = probe.num_rows();
      for (const int64_t start : {int64_t{0}, std::max<int64_t>(0, rows - 1)}) {
        const int64_t count = std::min<int64_t>(1, rows - start);
        if (count <= 0) continue;
        for (size_t h = 0; h < probe.info().hook_names.size(); ++h) (void)probe.read_activations(h, start, count);
        (void)probe.read_token_ids(start, count);
        (void)probe.read_positions(start, count);
        (void)probe.read_sequence_ids(start, count);
      }
    });
  } catch (const core::hdf5::Error& e) {
    throw CheckpointError("activation file " + std::string(e.what()) + ": " + kRecreate);
  }

  try {
    file_ = core::hdf5::open_file(path_);
  } catch (const core::hdf5::Error& e) {
    // HDF5's reason says which: "file signature not found" (not HDF5), "truncated file: eof = ..."
    // (a copy or download cut short), or an errno (permissions).
    // A file libhdf5 crashed or hung on already says "<path> is damaged: ...".
    const std::string what = e.what();
    const bool said_damaged = what.find(" is damaged: ") != std::string::npos;
    throw CheckpointError("activation file " + what +
                          (said_damaged ? ": " : "; it is not an HDF5 file, or it is truncated or damaged: ") +
                          kRecreate);
  }

  try {
    const hid_t root = file_.get();
    const auto format = core::hdf5::read_string_attribute(root, "format");
    if (!format)
      throw bad("has no root attribute 'format' (expected \"" + std::string(kFormat) +
                "\"): it is an HDF5 file but not one written by `fpokit acts cache`");
    if (*format != kFormat)
      throw bad("root attribute 'format' is \"" + *format + "\", expected \"" + kFormat +
                "\": it is not an fpokit activation cache");
    const auto version = core::hdf5::read_int64_attribute(root, "format_version");
    if (!version) throw bad("has no root attribute 'format_version'; " + std::string(kRecreate));
    if (*version > kFormatVersion)
      throw bad("has format_version " + std::to_string(*version) + " but this fpokit reads version " +
                std::to_string(kFormatVersion) + ": it was written by a newer fpokit; upgrade fpokit or " + kRecreate);
    if (*version != kFormatVersion)
      throw bad("has unsupported format_version " + std::to_string(*version) + " (this fpokit reads version " +
                std::to_string(kFormatVersion) + "); " + kRecreate);
    const auto model_name = core::hdf5::read_string_attribute(root, "model_name");
    if (!model_name) throw bad("has no root attribute 'model_name'; " + std::string(kRecreate));
    info_.model_name = *model_name;
    const auto context_size = core::hdf5::read_int64_attribute(root, "context_size");
    if (!context_size) throw bad("has no root attribute 'context_size'; " + std::string(kRecreate));
    info_.context_size = *context_size;

    if (!core::hdf5::has_link(root, kActivationsGroup))
      throw bad("has no group 'activations' (one dataset per hook); " + std::string(kRecreate));
    const core::hdf5::Group group = core::hdf5::open_group(root, kActivationsGroup);
    const std::vector<std::string> datasets = core::hdf5::link_names(group.get());
    if (datasets.empty()) throw bad("has no hooks (group 'activations' is empty); " + std::string(kRecreate));

    // Row counts are compared against the first hook's.
    std::string reference_name;
    int64_t reference_rows = 0;
    auto check_rows = [&](const std::string& name, int64_t rows) {
      if (reference_name.empty()) {
        reference_name = name;
        reference_rows = rows;
      } else if (rows != reference_rows) {
        throw bad("row counts disagree: dataset '" + reference_name + "' has " + std::to_string(reference_rows) +
                  " rows but '" + name + "' has " + std::to_string(rows) + " (an interrupted or foreign write?); " +
                  kRecreate);
      }
    };

    for (const auto& dataset_name : datasets) {
      const std::string ds = "activations/" + dataset_name;
      core::hdf5::Dataset dataset = core::hdf5::open_dataset(group.get(), dataset_name);
      const std::vector<int64_t> shape = core::hdf5::dataset_shape(dataset.get());
      if (shape.size() != 2)
        throw bad("dataset '" + ds + "' has shape " + shape_text(shape) + ", expected 2-D [rows, d_in]; " + kRecreate);
      if (shape[1] <= 0) throw bad("dataset '" + ds + "' has d_in 0 (shape " + shape_text(shape) + "); " + kRecreate);

      const auto dtype = core::hdf5::read_string_attribute(dataset.get(), "dtype");
      if (!dtype) throw bad("dataset '" + ds + "' has no attribute 'dtype'; " + kRecreate);
      if (!known_dtype(*dtype))
        throw bad("dataset '" + ds + "' has unknown dtype \"" + *dtype + "\" (expected \"float32\" or \"bfloat16\"); " +
                  kRecreate);
      const core::hdf5::Datatype type = core::hdf5::dataset_type(dataset.get());
      const H5T_class_t cls = H5Tget_class(type.get());
      const size_t size = H5Tget_size(type.get());
      const bool type_ok = is_bfloat16(*dtype) ? (cls == H5T_INTEGER && size == 2) : (cls == H5T_FLOAT && size == 4);
      if (!type_ok)
        throw bad("dataset '" + ds + "' has dtype \"" + *dtype + "\" but stores " + type_text(type.get()) +
                  " (expected " + (is_bfloat16(*dtype) ? "2-byte integers: bfloat16 bit patterns" : "4-byte floats") +
                  "); " + kRecreate);
      if (info_.hook_names.empty()) {
        info_.storage_dtype = *dtype;
      } else if (*dtype != info_.storage_dtype) {
        throw bad("dataset '" + ds + "' has dtype \"" + *dtype + "\" but 'activations/" + datasets.front() +
                  "' has \"" + info_.storage_dtype + "\" (one file holds one storage dtype); " + kRecreate);
      }

      // The attribute, not the dataset name, is the hook's name: dataset names are HDF5 paths and
      // may one day need escaping.
      const auto hook_name = core::hdf5::read_string_attribute(dataset.get(), "hook_name");
      if (!hook_name || hook_name->empty())
        throw bad("dataset '" + ds + "' has no attribute 'hook_name'; " + std::string(kRecreate));
      if (std::find(info_.hook_names.begin(), info_.hook_names.end(), *hook_name) != info_.hook_names.end())
        throw bad("two datasets in 'activations' have hook_name \"" + *hook_name + "\"; " + kRecreate);

      check_rows(ds, shape[0]);
      info_.hook_names.push_back(*hook_name);
      info_.d_in.push_back(shape[1]);
      activations_.push_back(std::move(dataset));
    }

    auto open_column = [&](const char* name) {
      if (!core::hdf5::has_link(root, name)) throw bad("has no dataset '" + std::string(name) + "'; " + kRecreate);
      core::hdf5::Dataset dataset = core::hdf5::open_dataset(root, name);
      const std::vector<int64_t> shape = core::hdf5::dataset_shape(dataset.get());
      if (shape.size() != 1)
        throw bad("dataset '" + std::string(name) + "' has shape " + shape_text(shape) + ", expected 1-D [rows]; " +
                  kRecreate);
      const core::hdf5::Datatype type = core::hdf5::dataset_type(dataset.get());
      if (H5Tget_class(type.get()) != H5T_INTEGER)
        throw bad("dataset '" + std::string(name) + "' stores " + type_text(type.get()) + ", expected integers; " +
                  kRecreate);
      check_rows(name, shape[0]);
      return dataset;
    };
    token_ids_ = open_column(kTokenIds);
    positions_ = open_column(kPositions);
    sequence_ids_ = open_column(kSequenceIds);
    info_.num_rows = reference_rows;
  } catch (const core::hdf5::Error& e) {
    // e.what() starts with the file name and object ("x.h5:/activations: ...").
    throw CheckpointError("activation file " + std::string(e.what()) + "; " + kRecreate);
  }
}

std::optional<size_t> ActivationFileReader::hook_index(std::string_view hook_name) const {
  const auto it = std::find(info_.hook_names.begin(), info_.hook_names.end(), hook_name);
  if (it == info_.hook_names.end()) return std::nullopt;
  return static_cast<size_t>(it - info_.hook_names.begin());
}

void ActivationFileReader::check_range(int64_t start, int64_t count) const {
  if (start < 0 || count < 0 || start > info_.num_rows || count > info_.num_rows - start)
    throw std::out_of_range("activation file " + path_.string() + ": rows " + range_text(start, count) +
                            " are out of range (the file has " + std::to_string(info_.num_rows) + " rows)");
}

torch::Tensor ActivationFileReader::read_activations(size_t hook_index, int64_t start, int64_t count) const {
  if (hook_index >= activations_.size())
    throw std::out_of_range("activation file " + path_.string() + ": hook index " + std::to_string(hook_index) +
                            " is out of range (the file has " + std::to_string(activations_.size()) + " hooks)");
  check_range(start, count);
  const int64_t d_in = info_.d_in[hook_index];
  try {
    if (is_bfloat16(info_.storage_dtype)) {
      // The stored uint16 values are bfloat16 bit patterns: read them into a bfloat16 tensor's
      // memory as they are, then widen (bf16 -> f32 is exact).
      torch::Tensor raw = torch::empty({count, d_in}, torch::kBFloat16);
      core::hdf5::read_rows(activations_[hook_index].get(), H5T_NATIVE_UINT16, start, count, raw.data_ptr());
      return raw.to(torch::kFloat32);
    }
    torch::Tensor out = torch::empty({count, d_in}, torch::kFloat32);
    core::hdf5::read_rows(activations_[hook_index].get(), H5T_NATIVE_FLOAT, start, count, out.data_ptr());
    return out;
  } catch (const core::hdf5::Error& e) {
    throw CheckpointError("activation file " + std::string(e.what()) + "; the file is damaged: " + kRecreate);
  }
}

torch::Tensor ActivationFileReader::read_index_column(const core::hdf5::Dataset& dataset, int64_t start,
                                                      int64_t count) const {
  check_range(start, count);
  torch::Tensor out = torch::empty({count}, torch::kInt64);
  try {
    // HDF5 widens the stored int32 to int64 on the way.
    core::hdf5::read_rows(dataset.get(), H5T_NATIVE_INT64, start, count, out.data_ptr());
  } catch (const core::hdf5::Error& e) {
    throw CheckpointError("activation file " + std::string(e.what()) + "; the file is damaged: " + kRecreate);
  }
  return out;
}

torch::Tensor ActivationFileReader::read_token_ids(int64_t start, int64_t count) const {
  return read_index_column(token_ids_, start, count);
}

torch::Tensor ActivationFileReader::read_positions(int64_t start, int64_t count) const {
  return read_index_column(positions_, start, count);
}

torch::Tensor ActivationFileReader::read_sequence_ids(int64_t start, int64_t count) const {
  return read_index_column(sequence_ids_, start, count);
}

}  // namespace fpokit::sae
