#include "fpokit/sae/io/npz.h"

#include <zip.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "fpokit/core/errors.h"

namespace fpokit::sae {

namespace {

[[noreturn]] void fail(std::string_view where, const std::string& what) {
  throw CheckpointError(std::string(where) + ": " + what);
}

// The value text following 'key': in the header dict, up to the next top-level ',' or '}'.
std::string dict_value(std::string_view header, std::string_view key, std::string_view where) {
  const std::string quoted1 = "'" + std::string(key) + "'";
  const std::string quoted2 = "\"" + std::string(key) + "\"";
  auto pos = header.find(quoted1);
  if (pos == std::string_view::npos) pos = header.find(quoted2);
  if (pos == std::string_view::npos) fail(where, "npy header has no '" + std::string(key) + "'");
  pos = header.find(':', pos);
  if (pos == std::string_view::npos) fail(where, "npy header is malformed near '" + std::string(key) + "'");
  ++pos;
  int depth = 0;
  std::string out;
  for (; pos < header.size(); ++pos) {
    const char ch = header[pos];
    if (ch == '(' || ch == '[') ++depth;
    if (ch == ')' || ch == ']') --depth;
    if (depth == 0 && (ch == ',' || ch == '}')) break;
    out.push_back(ch);
  }
  const auto b = out.find_first_not_of(" \t");
  const auto e = out.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

std::vector<int64_t> parse_shape(const std::string& text, std::string_view where) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') fail(where, "npy shape is not a tuple: " + text);
  std::vector<int64_t> shape;
  std::string cur;
  auto flush = [&] {
    const auto b = cur.find_first_not_of(' ');
    if (b == std::string::npos) {
      cur.clear();
      return;
    }
    const std::string digits = cur.substr(b, cur.find_last_not_of(' ') - b + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 15)
      fail(where, "npy shape has a bad dimension: " + text);
    shape.push_back(std::stoll(digits));
    cur.clear();
  };
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == ',') flush();
    else cur.push_back(text[i]);
  }
  flush();
  return shape;
}

struct ZipArchiveCloser {
  void operator()(zip_t* z) const { zip_discard(z); }  // read-only: discard == close without writing
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

}  // namespace

torch::Tensor parse_npy(std::string_view bytes, std::string_view where) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) fail(where, "not a .npy image (bad magic)");
  const auto major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len =
        static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(where, "truncated .npy header");
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    fail(where, "unsupported .npy version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) fail(where, "truncated .npy header");
  const std::string_view header = bytes.substr(offset, header_len);
  const size_t data_offset = offset + header_len;

  const std::string descr = dict_value(header, "descr", where);
  const std::string fortran = dict_value(header, "fortran_order", where);
  const auto shape = parse_shape(dict_value(header, "shape", where), where);
  if (fortran != "False") fail(where, "fortran_order arrays are not supported (save with C order)");

  torch::ScalarType type;
  size_t itemsize = 0;
  const std::string d = descr.size() >= 2 ? descr.substr(1, descr.size() - 2) : descr;  // strip quotes
  if (d == "<f4") type = torch::kFloat32, itemsize = 4;
  else if (d == "<f8") type = torch::kFloat64, itemsize = 8;
  else if (d == "<f2") type = torch::kFloat16, itemsize = 2;
  else if (d == "<i4") type = torch::kInt32, itemsize = 4;
  else if (d == "<i8") type = torch::kInt64, itemsize = 8;
  else fail(where, "unsupported npy dtype " + descr + " (expected little-endian float '<f4', '<f8' or '<f2')");

  // Checked products: dimensions of up to 15 digits each can wrap a size_t and match a short file.
  size_t numel = 1;
  for (auto s : shape)
    if (__builtin_mul_overflow(numel, static_cast<size_t>(s), &numel) || numel > (SIZE_MAX / 8))
      fail(where, "npy shape " + dict_value(header, "shape", where) + " is too large");
  if (bytes.size() - data_offset != numel * itemsize)
    fail(where, "npy data is " + std::to_string(bytes.size() - data_offset) + " bytes, shape needs " +
                    std::to_string(numel * itemsize));
  auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
  if (numel) std::memcpy(t.data_ptr(), bytes.data() + data_offset, numel * itemsize);
  return t;
}

std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path) {
  const std::string where = path.string();
  int err = 0;
  std::unique_ptr<zip_t, ZipArchiveCloser> archive(zip_open(where.c_str(), ZIP_RDONLY, &err));
  if (!archive) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    const std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    fail(where, "cannot open as a zip (.npz) archive: " + msg);
  }
  std::map<std::string, torch::Tensor> out;
  const zip_int64_t n = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive.get(), i, 0, &st) != 0) fail(where, "cannot stat member " + std::to_string(i));
    std::string name = st.name ? st.name : "";
    const std::string member = where + ":" + name;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".npy") continue;
    if (!(st.valid & ZIP_STAT_SIZE)) fail(member, "member has no size");
    if (st.size > (zip_uint64_t{1} << 40)) fail(member, "member is implausibly large");
    std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(archive.get(), i, 0));
    if (!file) fail(member, std::string("cannot read member: ") + zip_strerror(archive.get()));
    // Grown as the data arrives, not allocated from the recorded size: a damaged archive may
    // record any size up to the limit above.
    std::string bytes;
    char buffer[1 << 16];
    while (true) {
      const zip_int64_t r = zip_fread(file.get(), buffer, sizeof buffer);
      if (r < 0) fail(member, std::string("corrupt member: ") + zip_file_strerror(file.get()));
      if (r == 0) break;
      if (bytes.size() + static_cast<zip_uint64_t>(r) > st.size)
        fail(member, "member is longer than its recorded size");
      bytes.append(buffer, static_cast<size_t>(r));
    }
    if (bytes.size() != st.size) fail(member, "truncated member");
    out.emplace(name.substr(0, name.size() - 4), parse_npy(bytes, member));
  }
  return out;
}

}  // namespace fpokit::sae
