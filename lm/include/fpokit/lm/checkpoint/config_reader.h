#pragma once
// Typed access to config.json fields with precise errors: a missing required key or a value of
// the wrong type throws ConfigError("<file>: field '<key>' ..."). Architecture parsers use it so
// that every config error names the file and the field.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/lm/checkpoint/model_config.h"

namespace fpokit::lm {

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& json, std::filesystem::path source);

  const nlohmann::json& json() const { return json_; }
  const std::filesystem::path& source() const { return source_; }
  bool has(const std::string& key) const;  // present and not null

  int64_t integer(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  double number(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  // The first present key among `keys` (aliases such as n_embd / hidden_size).
  int64_t integer_any(const std::vector<std::string>& keys) const;
  std::optional<int64_t> optional_integer(const std::string& key) const;
  // eos_token_id may be an int or a list of ints.
  std::vector<int64_t> integer_list(const std::string& key) const;

  // Fills the fields common to all architectures: architecture/model_type, special token ids,
  // torch_dtype|dtype, and the RoPE parameters from rope_theta/rope_scaling or rope_parameters.
  void read_common(ModelConfig& cfg) const;
  void read_rope(ModelConfig& cfg, double default_theta) const;
  // layer_types (["full_attention", "sliding_attention", ...]) when present, else `fallback`.
  void read_layer_kinds(ModelConfig& cfg, const std::vector<LayerKind>& fallback) const;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

 private:
  const nlohmann::json& json_;
  std::filesystem::path source_;
};

}  // namespace fpokit::lm
