#pragma once
// Helpers for the safetensors suite: the fixtures written by the Python library
// (tests/fixtures/generate_safetensors.py), their expected contents, and raw-byte editing of
// safetensors files for the bad-input tests.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "test_support.h"

namespace fpokit::test {

inline std::filesystem::path st_fixture(const std::string& name) { return fixture("safetensors/" + name); }

inline nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(read_bytes(path)); }

// Elements as the expected JSON stores them: floats as their same-width integer bit pattern
// (exact, NaN and -0 included), integers and bools as values.
inline std::vector<int64_t> elements_of(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.contiguous().reshape({-1});
  switch (flat.scalar_type()) {
    case torch::kFloat64: flat = flat.view(torch::kInt64); break;
    case torch::kFloat32: flat = flat.view(torch::kInt32); break;
    case torch::kFloat16:
    case torch::kBFloat16: flat = flat.view(torch::kInt16); break;
    default: break;
  }
  flat = flat.to(torch::kInt64);
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

inline std::vector<int64_t> expected_elements(const nlohmann::json& entry) {
  return entry.contains("bits") ? entry["bits"].get<std::vector<int64_t>>() : entry["values"].get<std::vector<int64_t>>();
}

inline torch::ScalarType scalar_type_of(const std::string& name) {
  if (name == "F64") return torch::kFloat64;
  if (name == "F32") return torch::kFloat32;
  if (name == "F16") return torch::kFloat16;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "I64") return torch::kInt64;
  if (name == "I32") return torch::kInt32;
  if (name == "I16") return torch::kInt16;
  if (name == "I8") return torch::kInt8;
  if (name == "U8") return torch::kUInt8;
  if (name == "BOOL") return torch::kBool;
  throw std::runtime_error("test: unknown dtype " + name);
}

// Rebuilds a tensor from its expected-JSON entry without going through the reader.
inline torch::Tensor tensor_from_expected(const nlohmann::json& entry) {
  const auto type = scalar_type_of(entry["dtype"]);
  const auto elements = expected_elements(entry);
  auto t = torch::tensor(elements, torch::kInt64);
  if (elements.empty()) t = torch::empty({0}, torch::kInt64);
  switch (type) {
    case torch::kFloat64: t = t.view(torch::kFloat64); break;
    case torch::kFloat32: t = t.to(torch::kInt32).view(torch::kFloat32); break;
    case torch::kFloat16: t = t.to(torch::kInt16).view(torch::kFloat16); break;
    case torch::kBFloat16: t = t.to(torch::kInt16).view(torch::kBFloat16); break;
    default: t = t.to(type); break;
  }
  return t.reshape(entry["shape"].get<std::vector<int64_t>>());
}

// A safetensors file split into its JSON header (key order kept) and data section.
struct RawSafetensors {
  nlohmann::ordered_json header;
  std::string data;

  static RawSafetensors parse(const std::string& bytes) {
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    return {nlohmann::ordered_json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
  }

  // Header text padded with spaces to a multiple of 8, as the Python library writes it.
  static std::string assemble(std::string header_text, const std::string& data) {
    header_text.append((8 - header_text.size() % 8) % 8, ' ');
    const uint64_t n = header_text.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    return out + header_text + data;
  }

  std::string bytes() const { return assemble(header.dump(), data); }
};

}  // namespace fpokit::test
