// write_safetensors: byte-identical to the Python library, round trips, input errors, atomicity.
#include <algorithm>

#include <torch/cuda.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "safetensors_fixtures.h"

// After every LibTorch header: c10/util/Logging.h defines its own CHECK (a fatal abort), which
// would silently replace Catch's if it came later.
#include <catch2/catch.hpp>

using namespace fpokit;
using fpokit::test::elements_of;
using fpokit::test::read_bytes;
using fpokit::test::st_fixture;
using fpokit::test::TempDir;
using Tensors = std::vector<std::pair<std::string, torch::Tensor>>;

namespace {

std::vector<std::string> dir_listing(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Tensors small_tensors() {
  return {{"a", torch::arange(6, torch::kFloat32).reshape({2, 3})}, {"b", torch::tensor({1, 2, 3}, torch::kInt64)}};
}

}  // namespace

TEST_CASE("C++ writes the same bytes as the Python library", "[safetensors][write]") {
  // Tensors rebuilt from the expected JSON (not through the reader), given in the order Python
  // laid them out; header JSON, escaping, padding and data must then match byte for byte.
  const auto expected = test::read_json(st_fixture("dtypes.expected.json"));
  Tensors tensors;
  for (const auto& name : expected["order"]) {
    tensors.emplace_back(name.get<std::string>(),
                         test::tensor_from_expected(expected["tensors"][name.get<std::string>()]));
  }
  TempDir tmp;
  lm::write_safetensors(tmp / "out.safetensors", tensors,
                        expected["metadata"].get<std::map<std::string, std::string>>());
  CHECK(read_bytes(tmp / "out.safetensors") == read_bytes(st_fixture("dtypes.safetensors")));
}

TEST_CASE("C++ writes the same shard bytes as huggingface_hub", "[safetensors][write]") {
  const auto expected = test::read_json(st_fixture("sharded.expected.json"));
  std::map<std::string, std::vector<std::pair<std::size_t, std::string>>> by_shard;  // shard -> (offset, name)
  for (const auto& [name, shard] : expected["weight_map"].items()) {
    by_shard[shard.get<std::string>()].emplace_back(expected["tensors"][name]["data_offsets"][0].get<std::size_t>(),
                                                    name);
  }
  REQUIRE(by_shard.size() == 2);
  TempDir tmp;
  for (auto& [shard, entries] : by_shard) {
    std::sort(entries.begin(), entries.end());
    Tensors tensors;
    for (const auto& [offset, name] : entries)
      tensors.emplace_back(name, test::tensor_from_expected(expected["tensors"][name]));
    lm::write_safetensors(tmp / shard, tensors, {{"format", "pt"}});
    CHECK(read_bytes(tmp / shard) == read_bytes(st_fixture("sharded/" + shard)));
  }
}

TEST_CASE("round trip: every dtype, scalars, empty and non-contiguous tensors, metadata", "[safetensors][write]") {
  torch::manual_seed(7);
  const auto base = torch::randn({4, 6});
  Tensors tensors = {
      {"transposed", base.t()},  // non-contiguous
      {"sliced", base.index({torch::indexing::Slice(1, 3),
                             torch::indexing::Slice(torch::indexing::None, torch::indexing::None, 2)})},
      {"f64", base.to(torch::kFloat64)},
      {"f16", base.to(torch::kFloat16)},
      {"bf16", base.to(torch::kBFloat16)},
      {"i64", torch::tensor({std::numeric_limits<int64_t>::min(), int64_t(0), std::numeric_limits<int64_t>::max()})},
      {"i32", torch::arange(-5, 5, torch::kInt32)},
      {"i16", torch::arange(-5, 5, torch::kInt16)},
      {"i8", torch::arange(-5, 5, torch::kInt8)},
      {"u8", torch::arange(250, 256, torch::kInt64).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::empty({3, 0, 2}, torch::kBFloat16)},
      {"nan", torch::tensor({std::nanf(""), -0.0f, INFINITY})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"b",
                                                        "gr\xc3\xb6\xc3\x9f"
                                                        "e"},
                                                       {"a", "x\ny\"z"},
                                                       {"e", ""}};
  TempDir tmp;
  lm::write_safetensors(tmp / "rt.safetensors", tensors, metadata);
  const lm::SafetensorsFile file(tmp / "rt.safetensors");
  CHECK(file.metadata() == metadata);
  REQUIRE(file.tensors().size() == tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, tensor] = tensors[i];
    INFO("tensor " << name);
    CHECK(file.tensors()[i].name == name);  // written in the order given
    const auto got = file.load(name);
    CHECK(got.scalar_type() == tensor.scalar_type());
    CHECK(got.sizes() == tensor.sizes());
    CHECK(elements_of(got) == elements_of(tensor));
  }
  // The header length is padded to a multiple of 8, so the data section starts aligned.
  uint64_t header_size = 0;
  std::memcpy(&header_size, read_bytes(tmp / "rt.safetensors").data(), 8);
  CHECK(header_size % 8 == 0);
}

TEST_CASE("a tensor at an unaligned offset is read through an aligned copy", "[safetensors][write]") {
  TempDir tmp;
  const auto values = torch::arange(5, torch::kFloat32) * 1.5;
  lm::write_safetensors(tmp / "u.safetensors", {{"three", torch::ones({3}, torch::kInt8)}, {"f", values}});
  const lm::SafetensorsFile file(tmp / "u.safetensors");
  const auto& info = file.info("f");
  CHECK(info.begin == 3);
  const auto view = file.view(info);
  CHECK(reinterpret_cast<std::uintptr_t>(view.data_ptr()) % 4 == 0);
  CHECK(view.data_ptr() != static_cast<const void*>(file.data(info)));
  CHECK(torch::equal(view, values));
}

TEST_CASE("write errors: duplicate names, reserved name, unsupported dtype, undefined tensor", "[safetensors][write]") {
  TempDir tmp;
  const auto out = tmp / "out.safetensors";
  auto tensors = small_tensors();
  tensors.emplace_back("a", torch::zeros({1}));
  CHECK_THROWS_MATCHES(lm::write_safetensors(out, tensors), InputError,
                       Catch::Matchers::Message(out.string() + ": duplicate tensor name 'a'"));
  CHECK_THROWS_WITH(lm::write_safetensors(out, {{"__metadata__", torch::zeros({1})}}), Catch::Contains("reserved"));
  CHECK_THROWS_WITH(lm::write_safetensors(out, {{"c", torch::zeros({1}, torch::kComplexFloat)}}),
                    Catch::Contains("tensor 'c' has dtype ComplexFloat"));
  CHECK_THROWS_WITH(lm::write_safetensors(out, {{"u", torch::Tensor()}}), Catch::Contains("tensor 'u' is undefined"));
  CHECK_THROWS_WITH(lm::write_safetensors(out, {{"bad\xff", torch::zeros({1})}}), Catch::Contains("not valid UTF-8"));
  CHECK(dir_listing(tmp.path()).empty());  // nothing created, not even a temporary file
}

TEST_CASE("atomic write: no temporary file is left behind", "[safetensors][write][atomic]") {
  TempDir tmp;
  lm::write_safetensors(tmp / "out.safetensors", small_tensors());
  lm::write_safetensors(tmp / "out.safetensors", small_tensors());  // over an existing file
  CHECK(dir_listing(tmp.path()) == std::vector<std::string>{"out.safetensors"});
}

TEST_CASE("atomic write: a failed write leaves the existing file untouched", "[safetensors][write][atomic]") {
  TempDir tmp;
  const auto out = tmp / "out.safetensors";
  lm::write_safetensors(out, small_tensors());
  const auto before = read_bytes(out);
  auto bad = small_tensors();
  bad.emplace_back("complex", torch::zeros({2}, torch::kComplexDouble));
  CHECK_THROWS_AS(lm::write_safetensors(out, bad), InputError);
  CHECK(read_bytes(out) == before);
  CHECK(dir_listing(tmp.path()) == std::vector<std::string>{"out.safetensors"});
  // A successful write does replace it.
  lm::write_safetensors(out, {{"z", torch::zeros({1})}});
  CHECK(read_bytes(out) != before);
  CHECK(lm::SafetensorsFile(out).tensors().size() == 1);
}

TEST_CASE("atomic write: a failure after the temporary file exists removes it", "[safetensors][write][atomic]") {
  // The destination is a non-empty directory: the temporary file is written in full, then the
  // rename fails.
  TempDir tmp;
  const auto out = tmp / "out.safetensors";
  std::filesystem::create_directory(out);
  test::write_bytes(out / "keep", "x");
  CHECK_THROWS_WITH(lm::write_safetensors(out, small_tensors()),
                    Catch::Contains(out.string()) && Catch::Contains("cannot replace"));
  CHECK(dir_listing(tmp.path()) == std::vector<std::string>{"out.safetensors"});
  CHECK(std::filesystem::is_directory(out));
  CHECK(read_bytes(out / "keep") == "x");
}

TEST_CASE("atomic write: replacing a file keeps open mappings of the old one valid", "[safetensors][write][atomic]") {
  TempDir tmp;
  const auto out = tmp / "out.safetensors";
  lm::write_safetensors(out, {{"w", torch::full({16}, 1.0f)}});
  const lm::SafetensorsFile old_file(out);
  const auto old_view = old_file.view(old_file.info("w"));
  lm::write_safetensors(out, {{"w", torch::full({16}, 2.0f)}});  // rename gives a new inode
  CHECK(torch::equal(old_view, torch::full({16}, 1.0f)));
  CHECK(torch::equal(lm::SafetensorsFile(out).load("w"), torch::full({16}, 2.0f)));
}
