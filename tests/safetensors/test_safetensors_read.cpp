// Reading files written by the Python safetensors library (tests/fixtures/safetensors, made by
// generate_safetensors.py): every dtype, special floats, scalars, empty tensors, escaped names,
// metadata; values compared bit for bit with what Python read from the same file.
#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "safetensors_fixtures.h"

// After every LibTorch header: c10/util/Logging.h defines its own CHECK (a fatal abort), which
// would silently replace Catch's if it came later.
#include <catch2/catch.hpp>

using namespace fpokit;
using fpokit::test::elements_of;
using fpokit::test::expected_elements;
using fpokit::test::st_fixture;

TEST_CASE("dtype helpers agree with the file format and LibTorch", "[safetensors]") {
  CHECK(lm::dtype_name(lm::DType::BF16) == "BF16");
  CHECK(lm::dtype_name(lm::DType::BOOL) == "BOOL");
  for (const auto dtype : {lm::DType::F64, lm::DType::F32, lm::DType::F16, lm::DType::BF16, lm::DType::I64,
                           lm::DType::I32, lm::DType::I16, lm::DType::I8, lm::DType::U8, lm::DType::BOOL}) {
    const auto type = lm::to_scalar_type(dtype);
    CHECK(lm::from_scalar_type(type) == dtype);
    CHECK(lm::dtype_size(dtype) == c10::elementSize(type));
    CHECK(lm::to_scalar_type(dtype) == test::scalar_type_of(std::string(lm::dtype_name(dtype))));
  }
  CHECK_THROWS_AS(lm::from_scalar_type(torch::kComplexFloat), InputError);
}

TEST_CASE("reads every tensor of a Python-written file exactly", "[safetensors]") {
  const auto expected = test::read_json(st_fixture("dtypes.expected.json"));
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));

  CHECK(file.metadata() == expected["metadata"].get<std::map<std::string, std::string>>());
  const auto order = expected["order"].get<std::vector<std::string>>();
  REQUIRE(file.tensors().size() == order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& info = file.tensors()[i];
    const auto& e = expected["tensors"][order[i]];
    INFO("tensor " << order[i]);
    CHECK(info.name == order[i]);  // tensors() is in file (offset) order
    CHECK(lm::dtype_name(info.dtype) == e["dtype"].get<std::string>());
    CHECK(info.shape == e["shape"].get<std::vector<int64_t>>());
    CHECK(info.begin == e["data_offsets"][0].get<std::size_t>());
    CHECK(info.end == e["data_offsets"][1].get<std::size_t>());
    CHECK(&file.info(info.name) == &info);
    CHECK(file.find(info.name) == &info);

    const auto view = file.view(info);
    CHECK(view.device().is_cpu());
    CHECK(view.scalar_type() == lm::to_scalar_type(info.dtype));
    CHECK(view.sizes().vec() == info.shape);
    CHECK(elements_of(view) == expected_elements(e));
    const auto loaded = file.load(info.name);
    CHECK(elements_of(loaded) == expected_elements(e));
    if (view.numel() > 0) {
      CHECK(view.data_ptr() == static_cast<const void*>(file.data(info)));  // no copy
      CHECK(loaded.data_ptr() != view.data_ptr());                          // an owned copy
    }
  }
}

TEST_CASE("scalars and empty tensors keep their shapes", "[safetensors]") {
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));
  const auto scalar = file.load("scalar.f32");
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item<float>() == 3.25f);
  CHECK(file.load("scalar.i64").item<int64_t>() == -42);
  const auto empty = file.view(file.info("empty.f32"));
  CHECK(empty.sizes().vec() == std::vector<int64_t>{0, 4});
  CHECK(file.info("empty.bf16").begin == file.info("empty.bf16").end);
  CHECK(file.load("empty.bf16").sizes().vec() == std::vector<int64_t>{2, 0});
}

TEST_CASE("bf16 and special float values are bit-exact", "[safetensors]") {
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));
  const auto bf16 = file.load("bf16.special").to(torch::kFloat32);
  CHECK(std::isinf(bf16[0].item<float>()));
  CHECK(std::isnan(bf16[2].item<float>()));
  CHECK(std::signbit(bf16[3].item<float>()));
  CHECK(file.load("f16.special")[6].item<float>() == 65504.0f);
  // The i64 extremes survive (no round trip through double).
  const auto i64 = file.load("i64.values");
  CHECK(i64[3].item<int64_t>() == (int64_t(1) << 62) + 12345);
  CHECK(i64[4].item<int64_t>() == std::numeric_limits<int64_t>::min());
}

TEST_CASE("names and metadata that need JSON escaping are decoded", "[safetensors]") {
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));
  CHECK(file.find("na\xc3\xafve \"quoted\"\tname\n") != nullptr);
  CHECK(file.metadata().at("note") ==
        "fpokit fixture: gr\xc3\xb6\xc3\x9f"
        "e \xe2\x9c\x93 \"q\"\n");
}

TEST_CASE("load returns an owning copy: writing to it leaves the mapping and later loads unchanged", "[safetensors]") {
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));
  const auto& info = file.info("model.embed_tokens.weight");
  const auto before = file.view(info).clone();
  REQUIRE(before.abs().sum().item<float>() > 0);
  auto loaded = file.load("model.embed_tokens.weight");
  CHECK(loaded.data_ptr() != file.view(info).data_ptr());  // not an alias of the mapping
  loaded.zero_();  // a view of a read-only mapping would fault here; of a private one, leak
  CHECK(torch::equal(file.view(info), before));
  CHECK(torch::equal(file.load("model.embed_tokens.weight"), before));
}

TEST_CASE("absent tensors: find gives nullptr, info and load throw naming file and tensor", "[safetensors]") {
  const lm::SafetensorsFile file(st_fixture("dtypes.safetensors"));
  CHECK(file.find("nope") == nullptr);
  CHECK_THROWS_MATCHES(file.info("nope"), CheckpointError,
                       Catch::Matchers::Message(st_fixture("dtypes.safetensors").string() + ": no tensor 'nope'"));
  CHECK_THROWS_AS(file.load("nope"), CheckpointError);
}

TEST_CASE("SafetensorsFile moves keep the mapping alive", "[safetensors]") {
  lm::SafetensorsFile a(st_fixture("dtypes.safetensors"));
  const auto expected = elements_of(a.load("bf16.values"));
  lm::SafetensorsFile b(std::move(a));
  CHECK(elements_of(b.load("bf16.values")) == expected);
  lm::SafetensorsFile c(st_fixture("sharded/model-00002-of-00002.safetensors"));
  c = std::move(b);
  CHECK(c.path() == st_fixture("dtypes.safetensors"));
  CHECK(elements_of(c.view(c.info("bf16.values"))) == expected);
}
