#include "fpokit/lm/checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"

namespace fpokit::lm {

// safetensors stores raw little-endian bytes and the reader hands them to torch unchanged.
static_assert(std::endian::native == std::endian::little, "fpokit's safetensors I/O assumes a little-endian host");

namespace {

namespace fs = std::filesystem;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  std::size_t size;
  torch::ScalarType scalar_type;
};

constexpr std::array<DTypeEntry, 10> kDTypes = {{
    {DType::F64, "F64", 8, torch::kFloat64},
    {DType::F32, "F32", 4, torch::kFloat32},
    {DType::F16, "F16", 2, torch::kFloat16},
    {DType::BF16, "BF16", 2, torch::kBFloat16},
    {DType::I64, "I64", 8, torch::kInt64},
    {DType::I32, "I32", 4, torch::kInt32},
    {DType::I16, "I16", 2, torch::kInt16},
    {DType::I8, "I8", 1, torch::kInt8},
    {DType::U8, "U8", 1, torch::kUInt8},
    {DType::BOOL, "BOOL", 1, torch::kBool},
}};

const DTypeEntry& entry_of(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e;
  }
  throw std::logic_error("fpokit: DType value out of range");
}

std::optional<DType> dtype_of_name(std::string_view name) {
  for (const auto& e : kDTypes) {
    if (e.name == name) return e.dtype;
  }
  return std::nullopt;
}

std::optional<DType> dtype_of_scalar_type(torch::ScalarType type) {
  for (const auto& e : kDTypes) {
    if (e.scalar_type == type) return e.dtype;
  }
  return std::nullopt;
}

std::string supported_dtype_names() {
  std::string s;
  for (const auto& e : kDTypes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

// Names and JSON error texts come from the file: keep messages on one line and printable.
// With ascii_only, bytes >= 0x80 are escaped too (for parser messages quoting raw, possibly
// invalid UTF-8 input).
std::string printable(std::string_view text, bool ascii_only = false) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || (ascii_only && u >= 0x80)) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string quote_name(std::string_view name) {
  std::string out(1, '\'');
  out.append(printable(name));
  out.push_back('\'');
  return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string span_string(std::size_t begin, std::size_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Owns a file descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error (close() can report a failed delayed write).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Owns a mapping until release() hands it over to the SafetensorsFile.
class Mapping {
 public:
  Mapping(void* addr, std::size_t size) : addr_(addr), size_(size) {}
  ~Mapping() {
    if (addr_ != nullptr) ::munmap(addr_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const std::byte* bytes() const { return static_cast<const std::byte*>(addr_); }
  void* release() { return std::exchange(addr_, nullptr); }

 private:
  void* addr_;
  std::size_t size_;
};

class HeaderParser {
 public:
  HeaderParser(const fs::path& path, std::size_t data_size) : path_(path), data_size_(data_size) {}

  [[noreturn]] void fail(const std::string& problem) const { throw CheckpointError(path_.string() + ": " + problem); }
  [[noreturn]] void fail(std::string_view tensor, const std::string& problem) const {
    fail("tensor " + quote_name(tensor) + ": " + problem);
  }

  nlohmann::json parse(const char* first, const char* last) const {
    // A valid header nests three levels deep (root, entry, shape); refusing deeper input keeps a
    // hostile header from building a huge tree.
    constexpr int kMaxDepth = 8;
    const auto limit_depth = [this](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
      if ((event == nlohmann::json::parse_event_t::object_start ||
           event == nlohmann::json::parse_event_t::array_start) &&
          depth > kMaxDepth) {
        fail("header JSON nests deeper than " + std::to_string(kMaxDepth) + " levels");
      }
      return true;
    };
    // nlohmann stops at a NUL byte as if the input ended there; JSON allows none (not even in
    // strings), and the Rust crate rejects them, so refuse e.g. NUL padding explicitly.
    if (const void* nul = std::memchr(first, '\0', std::size_t(last - first))) {
      fail("header is not valid JSON: NUL byte at header offset " +
           std::to_string(static_cast<const char*>(nul) - first));
    }
    try {
      return nlohmann::json::parse(first, last, limit_depth);
    } catch (const nlohmann::json::exception& e) {
      fail("header is not valid JSON: " + printable(e.what(), /*ascii_only=*/true));
    }
  }

  std::map<std::string, std::string> metadata(const nlohmann::json& value) const {
    std::map<std::string, std::string> out;
    if (value.is_null()) return out;  // the Rust crate reads null as "no metadata"
    if (!value.is_object()) fail("__metadata__ must be an object of strings, not " + std::string(value.type_name()));
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string()) {
        fail("__metadata__ value for " + quote_name(key) + " must be a string, not " + std::string(v.type_name()));
      }
      out.emplace(key, v.get<std::string>());
    }
    return out;
  }

  TensorInfo tensor(const std::string& name, const nlohmann::json& entry) const {
    if (!entry.is_object()) fail(name, "header entry must be an object, not " + std::string(entry.type_name()));
    TensorInfo info;
    info.name = name;

    const auto& dtype = field(name, entry, "dtype");
    if (!dtype.is_string()) fail(name, "'dtype' must be a string, not " + std::string(dtype.type_name()));
    const auto dtype_name = dtype.get<std::string>();
    const auto parsed = dtype_of_name(dtype_name);
    if (!parsed)
      fail(name, "unsupported dtype " + quote_name(dtype_name) + " (supported: " + supported_dtype_names() + ")");
    info.dtype = *parsed;

    const auto& shape = field(name, entry, "shape");
    if (!shape.is_array()) fail(name, "'shape' must be an array of integers, not " + std::string(shape.type_name()));
    for (const auto& dim : shape) {
      if (dim.is_number_integer() && !dim.is_number_unsigned()) {
        fail(name, "negative dimension " + std::to_string(dim.get<int64_t>()) + " in 'shape'");
      }
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
        fail(name, "'shape' must be an array of non-negative integers, found " + printable(dim.dump()));
      }
      info.shape.push_back(dim.get<int64_t>());
    }

    const auto& offsets = field(name, entry, "data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      fail(name, "'data_offsets' must be [begin, end] with non-negative integers, found " + printable(offsets.dump()));
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    if (end < begin) fail(name, "data_offsets " + span_string(begin, end) + " end before they begin");
    if (end > data_size_) {
      fail(name, "data_offsets " + span_string(begin, end) + " exceed the data section (" + std::to_string(data_size_) +
                     " bytes; truncated file?)");
    }
    info.begin = begin;
    info.end = end;

    uint64_t bytes = entry_of(info.dtype).size;
    for (const int64_t dim : info.shape) {
      if (__builtin_mul_overflow(bytes, uint64_t(dim), &bytes))
        fail(name, "shape " + shape_string(info.shape) + " overflows");
    }
    if (bytes != end - begin) {
      fail(name, "data_offsets " + span_string(begin, end) + " span " + std::to_string(end - begin) +
                     " bytes, but shape " + shape_string(info.shape) + " of " + std::string(dtype_name) + " needs " +
                     std::to_string(bytes));
    }
    return info;
  }

  // The tensors, sorted by offset, must tile the data section exactly: no overlap (two tensors
  // sharing bytes), no hole and no trailing bytes. The Rust safetensors crate enforces the same,
  // so every file the Python library reads passes; a hole or a short tiling usually means a
  // truncated or hand-edited file.
  void check_tiling(std::vector<TensorInfo>& tensors) const {
    std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
    });
    std::size_t covered = 0;
    const TensorInfo* previous = nullptr;
    for (const auto& t : tensors) {
      if (t.begin < covered) {
        fail(t.name, "data_offsets " + span_string(t.begin, t.end) + " overlap tensor " + quote_name(previous->name) +
                         " " + span_string(previous->begin, previous->end));
      }
      if (t.begin > covered) {
        fail("bytes " + span_string(covered, t.begin) +
             " of the data section belong to no tensor (the tensors must cover it "
             "contiguously)");
      }
      covered = t.end;
      previous = &t;
    }
    if (covered != data_size_) {
      fail("the tensors cover " + std::to_string(covered) + " bytes of the " + std::to_string(data_size_) +
           "-byte data section (trailing bytes after the last tensor)");
    }
  }

 private:
  const nlohmann::json& field(const std::string& name, const nlohmann::json& entry, const char* key) const {
    const auto it = entry.find(key);
    if (it == entry.end()) fail(name, std::string("header entry has no '") + key + "'");
    return *it;
  }

  const fs::path& path_;
  std::size_t data_size_;
};

void write_all(int fd, const void* data, std::size_t size, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(what + ": cannot write: " + std::strerror(errno));
    }
    p += n;
    size -= std::size_t(n);
  }
}

}  // namespace

std::size_t dtype_size(DType dtype) { return entry_of(dtype).size; }
std::string_view dtype_name(DType dtype) { return entry_of(dtype).name; }
torch::ScalarType to_scalar_type(DType dtype) { return entry_of(dtype).scalar_type; }

DType from_scalar_type(torch::ScalarType type) {
  if (const auto dtype = dtype_of_scalar_type(type)) return *dtype;
  throw InputError(std::string("tensor dtype ") + c10::toString(type) +
                   " cannot be stored in safetensors by fpokit (supported: " + supported_dtype_names() + ")");
}

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  const auto fail = [&](const std::string& problem) -> void { throw CheckpointError(path.string() + ": " + problem); };

  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("not a regular file");
  const auto file_size = std::size_t(st.st_size);
  if (file_size < 8) {
    fail("file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length (truncated?)");
  }

  void* addr = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (addr == MAP_FAILED) fail(std::string("cannot mmap: ") + std::strerror(errno));
  Mapping mapping(addr, file_size);
  fd.close();  // the mapping keeps the file alive

  uint64_t header_size = 0;
  std::memcpy(&header_size, mapping.bytes(), 8);  // little-endian, see the static_assert
  // The same order of checks as the Rust crate: a huge claimed length is "too large" even when
  // the file is also too short for it.
  if (header_size > kMaxHeaderBytes) {
    fail("header length " + std::to_string(header_size) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
         " bytes (corrupt file?)");
  }
  if (header_size > file_size - 8) {
    fail("header length " + std::to_string(header_size) + " exceeds the file size (" + std::to_string(file_size) +
         " bytes; truncated file?)");
  }

  const std::size_t data_offset = 8 + header_size;
  const HeaderParser parser(path, file_size - data_offset);
  const auto* header_begin = reinterpret_cast<const char*>(mapping.bytes() + 8);
  const nlohmann::json header = parser.parse(header_begin, header_begin + header_size);
  if (!header.is_object()) parser.fail("header is not a JSON object but " + std::string(header.type_name()));

  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      metadata = parser.metadata(value);
    } else {
      tensors.push_back(parser.tensor(key, value));
    }
  }
  parser.check_tiling(tensors);  // also puts the tensors in file order

  for (std::size_t i = 0; i < tensors.size(); ++i) index_.emplace(tensors[i].name, i);
  tensors_ = std::move(tensors);
  metadata_ = std::move(metadata);
  data_offset_ = data_offset;
  map_size_ = file_size;
  map_ = mapping.release();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_offset_(other.data_offset_),
      tensors_(std::move(other.tensors_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(map_, map_size_);
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_offset_ = other.data_offset_;
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  if (const auto* found = find(name)) return *found;
  throw CheckpointError(path_.string() + ": no tensor " + quote_name(name));
}

const std::byte* SafetensorsFile::data(const TensorInfo& info) const {
  // Offsets are trusted only for this file's own entries (validated against the mapping).
  const TensorInfo& own =
      (&info >= tensors_.data() && &info < tensors_.data() + tensors_.size()) ? info : this->info(info.name);
  return static_cast<const std::byte*>(map_) + data_offset_ + own.begin;
}

torch::Tensor SafetensorsFile::view(const TensorInfo& info) const {
  const std::byte* bytes = data(info);
  const auto options = torch::TensorOptions().dtype(to_scalar_type(info.dtype));
  const std::size_t itemsize = dtype_size(info.dtype);
  if (info.begin == info.end) return torch::empty(info.shape, options);
  // A C++ bool holds 0 or 1; any other byte is undefined behaviour in every kernel that reads it
  // (a copy may keep it, a comparison may not), so a corrupt BOOL tensor is refused here.
  if (info.dtype == DType::BOOL) {
    const auto* first = reinterpret_cast<const unsigned char*>(bytes);
    for (std::size_t i = 0; i < info.end - info.begin; ++i) {
      if (first[i] > 1) {
        throw CheckpointError(path_.string() + ": tensor " + quote_name(info.name) + " (BOOL) holds byte " +
                              std::to_string(first[i]) + " at element " + std::to_string(i) +
                              "; a BOOL element must be 0 or 1 (the file is damaged)");
      }
    }
  }
  // Files written by the Python library keep every tensor aligned to its item size (8-byte
  // padded header, tensors sorted by item size); a file laid out otherwise gets an aligned copy,
  // since LibTorch kernels assume natural alignment.
  if (reinterpret_cast<std::uintptr_t>(bytes) % itemsize != 0) {
    auto copy = torch::empty(info.shape, options);
    std::memcpy(copy.data_ptr(), bytes, info.end - info.begin);
    return copy;
  }
  // The mapping is PROT_READ: an in-place write into the view faults. clone() first.
  return torch::from_blob(const_cast<std::byte*>(bytes), info.shape, options);
}

torch::Tensor SafetensorsFile::load(std::string_view name) const { return view(info(name)).clone(); }

void write_safetensors(const fs::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string where = path.string();

  // The header first: it needs only names, dtypes and shapes, so every input error is found
  // before a file is created.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw InputError(where + ": '__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(name).second) throw InputError(where + ": duplicate tensor name " + quote_name(name));
    if (!tensor.defined()) throw InputError(where + ": tensor " + quote_name(name) + " is undefined");
    const auto dtype = dtype_of_scalar_type(tensor.scalar_type());
    if (!dtype) {
      throw InputError(where + ": tensor " + quote_name(name) + " has dtype " + c10::toString(tensor.scalar_type()) +
                       ", which safetensors cannot store here (supported: " + supported_dtype_names() + ")");
    }
    const std::size_t bytes = std::size_t(tensor.numel()) * dtype_size(*dtype);
    header[name] = {
        {"dtype", dtype_name(*dtype)}, {"shape", tensor.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text;
  try {
    header_text = header.dump();  // compact, key order as inserted: what the Python library writes
  } catch (const nlohmann::json::type_error& e) {
    throw InputError(where + ": a tensor name or metadata string is not valid UTF-8");
  }
  // Pad with spaces so that the data section starts 8-byte aligned, as the Python library does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_size = header_text.size();

  // Only the file's bytes are written here; the temporary name, the sync, the rename and the
  // cleanup on failure are core's (atomic_output.h).
  core::write_file_atomically(path, [&](const fs::path& temp) {
    FileDescriptor fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (fd.get() < 0) throw InputError(temp.string() + ": cannot create: " + std::strerror(errno));
    write_all(fd.get(), &header_size, 8, temp.string());
    write_all(fd.get(), header_text.data(), header_text.size(), temp.string());
    for (const auto& [name, tensor] : tensors) {
      // One tensor at a time on the CPU, so that a checkpoint on the GPU is never copied whole.
      const torch::Tensor cpu = tensor.to(torch::kCPU).contiguous();
      write_all(fd.get(), cpu.data_ptr(), cpu.nbytes(), temp.string());
    }
    if (fd.close() != 0) throw InputError(temp.string() + ": cannot close: " + std::strerror(errno));
  });
}

}  // namespace fpokit::lm
