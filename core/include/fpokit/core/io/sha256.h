#pragma once
// SHA-256 (FIPS 180-4) of bytes, files and folders, for provenance: a report or a cache records
// what it was computed from by content, not by path or modification time.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace fpokit::core {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::array<uint8_t, 32> digest();  // finishes; the object must not be updated afterwards
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// The file's bytes. Throws InputError naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);
// A folder's content: SHA-256 over, for each regular file below it in sorted relative-path order,
// the relative path, a NUL, the file's SHA-256 (hex) and a newline. Renaming the folder keeps the
// hash; changing, adding, removing or renaming a file inside changes it. A file gives sha256_file.
std::string sha256_tree(const std::filesystem::path& path);

}  // namespace fpokit::core
