// Corrupt safetensors files, each made by editing the bytes of a valid Python-written file:
// every one must throw CheckpointError whose message names the file and the problem. Then a
// bounded fuzz: random byte flips in the header never crash the reader.
#include <random>

#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "safetensors_fixtures.h"

// After every LibTorch header: c10/util/Logging.h defines its own CHECK (a fatal abort), which
// would silently replace Catch's if it came later.
#include <catch2/catch.hpp>

using namespace fpokit;
using Catch::Contains;
using fpokit::test::RawSafetensors;
using fpokit::test::st_fixture;
using fpokit::test::TempDir;

namespace {

std::string valid_bytes() { return test::read_bytes(st_fixture("dtypes.safetensors")); }
RawSafetensors valid_raw() { return RawSafetensors::parse(valid_bytes()); }

// Writes `bytes` as bad.safetensors and expects the reader to reject it with a message holding
// the file's path and `problem`.
void expect_rejected(const std::string& bytes, const std::string& problem) {
  TempDir tmp;
  const auto path = tmp / "bad.safetensors";
  test::write_bytes(path, bytes);
  std::string what;
  try {
    lm::SafetensorsFile file(path);
  } catch (const CheckpointError& e) {  // any other exception escapes and fails the test
    what = e.what();
  }
  INFO("message: " << what);
  REQUIRE_FALSE(what.empty());
  CHECK_THAT(what, Catch::StartsWith(path.string() + ": ") && Contains(problem));
  CHECK(what.find('\n') == std::string::npos);
}

std::string with_header_size(std::string bytes, uint64_t n) {
  std::memcpy(bytes.data(), &n, 8);
  return bytes;
}

}  // namespace

TEST_CASE("bad file: shorter than the 8-byte header length", "[safetensors][errors]") {
  expect_rejected("", "file is 0 bytes, too short");
  expect_rejected(valid_bytes().substr(0, 5), "file is 5 bytes, too short");
}

TEST_CASE("bad file: truncated data section", "[safetensors][errors]") {
  const auto bytes = valid_bytes();
  // bool.values occupies [371, 377]: cutting 10 bytes leaves a 367-byte data section.
  expect_rejected(bytes.substr(0, bytes.size() - 10),
                  "tensor 'bool.values': data_offsets [371, 377] exceed the data section (367 bytes; truncated file?)");
}

TEST_CASE("bad file: truncated inside the header", "[safetensors][errors]") {
  expect_rejected(valid_bytes().substr(0, 100),
                  "header length 1360 exceeds the file size (100 bytes; truncated file?)");
}

TEST_CASE("bad file: header length beyond the file", "[safetensors][errors]") {
  const auto bytes = valid_bytes();
  expect_rejected(with_header_size(bytes, bytes.size() - 7),
                  "exceeds the file size (" + std::to_string(bytes.size()) + " bytes");
}

TEST_CASE("bad file: header length over 100 MB", "[safetensors][errors]") {
  expect_rejected(with_header_size(valid_bytes(), 100'000'001),
                  "header length 100000001 exceeds the limit of 100000000 bytes");
  expect_rejected(with_header_size(valid_bytes(), ~uint64_t(0)), "exceeds the limit of 100000000 bytes");
}

TEST_CASE("bad file: header is not valid JSON", "[safetensors][errors]") {
  const auto raw = valid_raw();
  expect_rejected(RawSafetensors::assemble("{\"a\": ", raw.data), "header is not valid JSON");
  expect_rejected(RawSafetensors::assemble(raw.header.dump() + "x", raw.data), "header is not valid JSON");
  // NUL bytes are not padding: the Rust crate rejects them too.
  expect_rejected(RawSafetensors::assemble(raw.header.dump() + std::string(3, '\0'), raw.data),
                  "header is not valid JSON: NUL byte at header offset " + std::to_string(raw.header.dump().size()));
  // The parser's message quotes the raw bytes: they come out escaped.
  expect_rejected(RawSafetensors::assemble("{\"a\xff\": 1}", raw.data), "ill-formed UTF-8 byte; last read: '\"a\\xff'");
}

TEST_CASE("bad file: header is not a JSON object", "[safetensors][errors]") {
  expect_rejected(RawSafetensors::assemble("[1, 2]", ""), "header is not a JSON object but array");
}

TEST_CASE("bad file: header nests too deep", "[safetensors][errors]") {
  expect_rejected(RawSafetensors::assemble(std::string(10000, '[') + std::string(10000, ']'), ""), "nests deeper");
}

TEST_CASE("bad file: entry without dtype", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["scalar.f32"].erase("dtype");
  expect_rejected(raw.bytes(), "tensor 'scalar.f32': header entry has no 'dtype'");
}

TEST_CASE("bad file: entry without shape or data_offsets, or not an object", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["scalar.f32"].erase("shape");
  expect_rejected(raw.bytes(), "tensor 'scalar.f32': header entry has no 'shape'");
  raw = valid_raw();
  raw.header["scalar.f32"].erase("data_offsets");
  expect_rejected(raw.bytes(), "tensor 'scalar.f32': header entry has no 'data_offsets'");
  raw = valid_raw();
  raw.header["scalar.f32"] = "F32";
  expect_rejected(raw.bytes(), "tensor 'scalar.f32': header entry must be an object, not string");
}

TEST_CASE("bad file: fields of the wrong JSON type", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["i32.values"]["dtype"] = 32;
  expect_rejected(raw.bytes(), "tensor 'i32.values': 'dtype' must be a string, not number");
  raw = valid_raw();
  raw.header["i32.values"]["shape"] = "2x2";
  expect_rejected(raw.bytes(), "tensor 'i32.values': 'shape' must be an array of integers, not string");
  raw = valid_raw();
  raw.header["i32.values"]["shape"] = {2.0, 2};
  expect_rejected(raw.bytes(), "tensor 'i32.values': 'shape' must be an array of non-negative integers, found 2.0");
  raw = valid_raw();
  raw.header["i32.values"]["data_offsets"] = {204};
  expect_rejected(raw.bytes(), "tensor 'i32.values': 'data_offsets' must be [begin, end]");
  raw = valid_raw();
  raw.header["i32.values"]["data_offsets"] = {-4, 220};
  expect_rejected(raw.bytes(), "tensor 'i32.values': 'data_offsets' must be [begin, end]");
}

TEST_CASE("bad file: unknown dtype", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["u8.values"]["dtype"] = "F8_E4M3";
  expect_rejected(
      raw.bytes(),
      "tensor 'u8.values': unsupported dtype 'F8_E4M3' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

TEST_CASE("bad file: negative shape dimension", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["f64.values"]["shape"] = {-2, -3};
  expect_rejected(raw.bytes(), "tensor 'f64.values': negative dimension -2 in 'shape'");
}

TEST_CASE("bad file: data_offsets out of range", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["bool.values"]["data_offsets"] = {371, 1000};
  expect_rejected(raw.bytes(), "tensor 'bool.values': data_offsets [371, 1000] exceed the data section (377 bytes");
}

TEST_CASE("bad file: data_offsets end before begin", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["bool.values"]["data_offsets"] = {371, 300};
  expect_rejected(raw.bytes(), "tensor 'bool.values': data_offsets [371, 300] end before they begin");
}

TEST_CASE("bad file: overlapping data_offsets", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["i8.values"]["data_offsets"] = {350, 355};  // i16.values is [332, 356]
  expect_rejected(raw.bytes(), "tensor 'i8.values': data_offsets [350, 355] overlap tensor 'i16.values' [332, 356]");
}

TEST_CASE("bad file: span size does not match shape and dtype", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["model.embed_tokens.weight"]["shape"] = {5, 4};
  expect_rejected(
      raw.bytes(),
      "tensor 'model.embed_tokens.weight': data_offsets [140, 200] span 60 bytes, but shape [5, 4] of F32 needs 80");
  raw = valid_raw();
  raw.header["scalar.f32"]["dtype"] = "F64";
  expect_rejected(raw.bytes(),
                  "tensor 'scalar.f32': data_offsets [200, 204] span 4 bytes, but shape [] of F64 needs 8");
}

TEST_CASE("bad file: shape whose byte size overflows", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["i64.values"]["shape"] = {uint64_t(1) << 62, 8};
  expect_rejected(raw.bytes(), "tensor 'i64.values': shape [4611686018427387904, 8] overflows");
}

TEST_CASE("bad file: a hole in the data section", "[safetensors][errors]") {
  // Like the Rust crate, the tensors must tile the data section; a hole is an error.
  auto raw = valid_raw();
  raw.header.erase("i32.values");  // [204, 220]
  expect_rejected(raw.bytes(), "bytes [204, 220] of the data section belong to no tensor");
}

TEST_CASE("bad file: trailing bytes after the last tensor", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.data += std::string(8, '\0');
  expect_rejected(raw.bytes(), "the tensors cover 377 bytes of the 385-byte data section");
}

TEST_CASE("bad file: __metadata__ that is not a string map", "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["__metadata__"]["note"] = 1;
  expect_rejected(raw.bytes(), "__metadata__ value for 'note' must be a string, not number");
  raw = valid_raw();
  raw.header["__metadata__"] = {1, 2};
  expect_rejected(raw.bytes(), "__metadata__ must be an object of strings, not array");
}

TEST_CASE("accepted like the Rust crate: null metadata, extra entry keys, whitespace around the header",
          "[safetensors][errors]") {
  auto raw = valid_raw();
  raw.header["__metadata__"] = nullptr;
  raw.header["scalar.f32"]["comment"] = "ignored";
  TempDir tmp;
  test::write_bytes(tmp / "ok.safetensors", RawSafetensors::assemble(" \n" + raw.header.dump() + "\t", raw.data));
  const lm::SafetensorsFile file(tmp / "ok.safetensors");
  CHECK(file.metadata().empty());
  CHECK(file.load("scalar.f32").item<float>() == 3.25f);
}

TEST_CASE("bad file: a control character in a tensor name stays on one line in the message", "[safetensors][errors]") {
  auto raw = valid_raw();
  auto entry = raw.header["scalar.f32"];
  raw.header.erase("scalar.f32");
  entry["dtype"] = "X";
  raw.header["line\nbreak"] = entry;
  expect_rejected(raw.bytes(), "tensor 'line\\x0abreak': unsupported dtype 'X'");
}

TEST_CASE("bad file: a BOOL element that is neither 0 nor 1 is refused when the tensor is read",
          "[safetensors][errors]") {
  // Found by fuzz_safetensors: a shifted header made bool.values' bytes arbitrary; a C++ bool of 2 is
  // undefined behaviour (a copy kept the byte, another kernel need not), so view() and load() refuse it.
  auto raw = valid_raw();
  raw.data[371 + 4] = 2;  // bool.values is [371, 377]; element 4
  TempDir tmp;
  test::write_bytes(tmp / "bad.safetensors", raw.bytes());
  const lm::SafetensorsFile file(tmp / "bad.safetensors");  // the header is fine; the bytes are read lazily
  const std::string problem = "tensor 'bool.values' (BOOL) holds byte 2 at element 4; a BOOL element must be 0 or 1";
  CHECK_THROWS_MATCHES(
      file.load("bool.values"), CheckpointError,
      Catch::Matchers::Message((tmp / "bad.safetensors").string() + ": " + problem + " (the file is damaged)"));
  CHECK_THROWS_AS(file.view(file.info("bool.values")), CheckpointError);
  CHECK(file.load("u8.values").numel() == 7);  // other tensors of the file still load
}

TEST_CASE("bad file: missing file or a directory", "[safetensors][errors]") {
  TempDir tmp;
  CHECK_THROWS_MATCHES(
      lm::SafetensorsFile(tmp / "nope.safetensors"), CheckpointError,
      Catch::Matchers::Message((tmp / "nope.safetensors").string() + ": cannot open: No such file or directory"));
  CHECK_THROWS_WITH(lm::SafetensorsFile(tmp.path()), Contains(tmp.path().string()) && Contains("not a regular file"));
}

TEST_CASE("fuzz: random byte flips in the header never crash the reader", "[safetensors][errors][fuzz]") {
  const auto original = valid_bytes();
  uint64_t header_size = 0;
  std::memcpy(&header_size, original.data(), 8);
  std::mt19937_64 rng(20240601);  // fixed seed: the same 500 files every run
  TempDir tmp;
  const auto path = tmp / "fuzz.safetensors";
  int parsed = 0;
  int rejected = 0;
  for (int iteration = 0; iteration < 500; ++iteration) {
    std::string bytes = original;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the JSON, sometimes the length prefix.
      const std::size_t pos = (rng() % 10 == 0) ? rng() % 8 : 8 + rng() % header_size;
      bytes[pos] = char(static_cast<unsigned char>(bytes[pos]) ^ (1u + rng() % 255));
    }
    test::write_bytes(path, bytes);
    try {
      const lm::SafetensorsFile file(path);
      // Whatever was accepted must be readable within the mapping.
      for (const auto& info : file.tensors()) {
        const auto t = file.view(info);
        REQUIRE(static_cast<std::size_t>(t.numel()) * lm::dtype_size(info.dtype) == info.end - info.begin);
        uint64_t claimed = 0;
        std::memcpy(&claimed, bytes.data(), 8);
        REQUIRE(info.end <= bytes.size() - 8 - claimed);
        (void)t.to(torch::kFloat64).sum().item<double>();
      }
      ++parsed;
    } catch (const CheckpointError& e) {
      const std::string what = e.what();
      REQUIRE(what.rfind(path.string() + ": ", 0) == 0);
      REQUIRE(what.find('\n') == std::string::npos);
      ++rejected;
    }
  }
  INFO("parsed " << parsed << ", rejected " << rejected);
  CHECK(parsed + rejected == 500);
  CHECK(parsed > 0);  // some flips hit names or padding and leave a valid file
  CHECK(rejected > 0);
}
