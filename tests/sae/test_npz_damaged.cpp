// Damaged .npz / .npy files that once made the reader (sae/io/npz.h) allocate what the file claims
// rather than what it holds: each must be a CheckpointError naming the file, at once and without
// the memory (found by the fuzz_npz harness, tests/fuzz).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/sae/io/npz.h"
#include "test_support.h"

using namespace fpokit;

namespace {

// A valid .npy v1 image of one float32 zero.
std::string one_float_npy(const std::string& shape = "(1,)") {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  header.resize(117, ' ');
  header += '\n';
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy += static_cast<char>(header.size() & 0xff);
  npy += static_cast<char>(header.size() >> 8);
  return npy + header + std::string(4, '\0');
}

void put_u16(std::string& s, uint16_t v) { s.append({static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}); }
void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A zip holding `data` as the stored (uncompressed) member a.npy, whose headers record
// `recorded_size` as its uncompressed size. `crc` is the CRC-32 of `data`.
std::string stored_zip(const std::string& data, uint32_t crc, uint32_t recorded_size) {
  const std::string name = "a.npy";
  std::string local, central;
  put_u32(local, 0x04034b50);
  for (const uint16_t v : {20, 0, 0, 0, 0}) put_u16(local, v);  // version, flags, method stored, time, date
  put_u32(local, crc);
  put_u32(local, static_cast<uint32_t>(data.size()));
  put_u32(local, recorded_size);
  put_u16(local, static_cast<uint16_t>(name.size()));
  put_u16(local, 0);
  local += name + data;
  put_u32(central, 0x02014b50);
  for (const uint16_t v : {20, 20, 0, 0, 0, 0}) put_u16(central, v);
  put_u32(central, crc);
  put_u32(central, static_cast<uint32_t>(data.size()));
  put_u32(central, recorded_size);
  put_u16(central, static_cast<uint16_t>(name.size()));
  for (const uint16_t v : {0, 0, 0, 0}) put_u16(central, v);  // extra, comment, disk, internal attributes
  put_u32(central, 0);                                        // external attributes
  put_u32(central, 0);                                        // offset of the local header
  central += name;
  std::string end;
  put_u32(end, 0x06054b50);
  for (const uint16_t v : {0, 0, 1, 1}) put_u16(end, v);
  put_u32(end, static_cast<uint32_t>(central.size()));
  put_u32(end, static_cast<uint32_t>(local.size()));
  put_u16(end, 0);
  return local + central + end;
}

constexpr uint32_t kOneFloatNpyCrc = 0xfeb28327;  // zlib.crc32 of one_float_npy()

}  // namespace

TEST_CASE("an npz member is read as far as the archive holds it, not as large as it claims", "[sae][io][npz]") {
  test::TempDir tmp;
  const auto path = tmp / "params.npz";
  REQUIRE(one_float_npy().size() == 132);
  test::write_bytes(path, stored_zip(one_float_npy(), kOneFloatNpyCrc, 132));
  REQUIRE(sae::read_npz(path).at("a").numel() == 1);  // the helper writes a valid archive

  // 240 bytes recording a 4 GB member: the reader allocated the 4 GB before reading.
  test::write_bytes(path, stored_zip(one_float_npy(), kOneFloatNpyCrc, 0xfffffff0u));
  try {
    (void)sae::read_npz(path);
    FAIL("the archive was read");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(path.string() + ":a.npy: "));
  }
}

TEST_CASE("an npy shape whose element count overflows is refused", "[sae][io][npz]") {
  // 2^32 · 2^32 · 16 wraps to 0 elements in 64 bits, which the 0 data bytes below would match.
  std::string npy = one_float_npy("(4294967296, 4294967296, 16)");
  npy.resize(npy.size() - 4);
  try {
    (void)sae::parse_npy(npy, "x.npy");
    FAIL("the image was parsed");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("x.npy: ") && Catch::Contains("too large"));
  }
}
