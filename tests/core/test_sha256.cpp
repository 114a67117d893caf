// core::Sha256 against FIPS 180-4 / NIST test vectors, and the folder hash's invariants.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/content_fingerprint.h"
#include "fpokit/core/io/sha256.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("sha256: NIST vectors, and streaming in pieces equals one update") {
  CHECK(core::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(core::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(core::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(core::sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  core::Sha256 h;
  for (size_t i = 0; i < million.size(); i += 777) h.update(million.substr(i, 777));
  CHECK(h.hex_digest() == core::sha256_hex(million));
}

TEST_CASE("sha256_tree: content decides, not the folder name, and a change inside changes it") {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp / "a/sub");
  test::write_bytes(tmp / "a/x.txt", "one");
  test::write_bytes(tmp / "a/sub/y.txt", "two");
  const auto h1 = core::sha256_tree(tmp / "a");
  std::filesystem::rename(tmp / "a", tmp / "b");
  CHECK(core::sha256_tree(tmp / "b") == h1);
  test::write_bytes(tmp / "b/sub/y.txt", "two!");
  const auto h2 = core::sha256_tree(tmp / "b");
  CHECK(h2 != h1);
  std::filesystem::rename(tmp / "b/x.txt", tmp / "b/z.txt");
  CHECK(core::sha256_tree(tmp / "b") != h2);
  CHECK(core::sha256_tree(tmp / "b/z.txt") == core::sha256_hex("one"));
  CHECK_THROWS_AS(core::sha256_file(tmp / "missing"), InputError);
}

TEST_CASE("content_fingerprint: a large file records its modification time in nanoseconds since 1970") {
  test::TempDir tmp;
  const auto big = tmp / "weights.bin";
  test::write_bytes(big, "head");
  std::filesystem::resize_file(big, core::kFullHashBytes + 1);  // sparse: no disk space used
  const auto before = std::chrono::system_clock::now();
  std::filesystem::last_write_time(big, std::filesystem::file_time_type::clock::now());
  const auto record = core::content_fingerprint(big);
  REQUIRE(record.contains("mtime_ns"));
  const auto mtime_ns = record.at("mtime_ns").get<int64_t>();
  const auto before_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
  CHECK(mtime_ns > 0);
  // Within a minute of now, on the Unix epoch (not libstdc++'s file clock, which starts in 2174).
  CHECK(std::llabs(mtime_ns - before_ns) < int64_t{60} * 1000000000);
  CHECK(record.at("size").get<uint64_t>() == core::kFullHashBytes + 1);
}
