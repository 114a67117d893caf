#include "fpokit/lm/checkpoint/config_reader.h"

#include "fpokit/core/errors.h"

namespace fpokit::lm {



ConfigReader::ConfigReader(const nlohmann::json& j, std::filesystem::path source) : json_(j), source_(std::move(source)) {
  if (!json_.is_object()) throw ConfigError(source_.string() + ": expected a JSON object");
}

void ConfigReader::fail(const std::string& key, const std::string& problem) const {
  throw ConfigError(source_.string() + ": field '" + key + "' " + problem);
}

bool ConfigReader::has(const std::string& key) const { return json_.contains(key) && !json_.at(key).is_null(); }

int64_t ConfigReader::integer(const std::string& key) const {
  if (!has(key)) fail(key, "is missing (an integer is required)");
  const auto& v = json_.at(key);
  if (!v.is_number_integer()) fail(key, "must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

int64_t ConfigReader::integer(const std::string& key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

double ConfigReader::number(const std::string& key) const {
  if (!has(key)) fail(key, "is missing (a number is required)");
  const auto& v = json_.at(key);
  if (!v.is_number()) fail(key, "must be a number, got " + v.dump());
  return v.get<double>();
}

double ConfigReader::number(const std::string& key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool ConfigReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (!v.is_boolean()) fail(key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string ConfigReader::string(const std::string& key) const {
  if (!has(key)) fail(key, "is missing (a string is required)");
  const auto& v = json_.at(key);
  if (!v.is_string()) fail(key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::string ConfigReader::string(const std::string& key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

int64_t ConfigReader::integer_any(const std::vector<std::string>& keys) const {
  for (const auto& key : keys) {
    if (has(key)) return integer(key);
  }
  std::string names;
  for (const auto& key : keys) names += (names.empty() ? "" : " or ") + key;
  fail(keys.front(), "is missing (an integer is required; accepted names: " + names + ")");
}

std::optional<int64_t> ConfigReader::optional_integer(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return integer(key);
}

std::vector<int64_t> ConfigReader::integer_list(const std::string& key) const {
  if (!has(key)) return {};
  const auto& v = json_.at(key);
  if (v.is_number_integer()) return {v.get<int64_t>()};
  std::vector<int64_t> out;
  if (v.is_array()) {
    for (const auto& item : v) {
      if (!item.is_number_integer()) fail(key, "must be an integer or a list of integers, got " + v.dump());
      out.push_back(item.get<int64_t>());
    }
    return out;
  }
  fail(key, "must be an integer or a list of integers, got " + v.dump());
}

void ConfigReader::read_common(ModelConfig& cfg) const {
  cfg.source = source_;
  cfg.model_type = string("model_type", "");
  cfg.bos_token_id = optional_integer("bos_token_id");
  cfg.eos_token_ids = integer_list("eos_token_id");
  cfg.pad_token_id = optional_integer("pad_token_id");
  // transformers >= 4.56 writes "dtype", earlier versions "torch_dtype".
  cfg.torch_dtype = has("dtype") ? string("dtype") : string("torch_dtype", "float32");
}

namespace {

RopeScaling parse_rope_type(const std::string& type, const ConfigReader& r, const std::string& key) {
  if (type == "default" || type.empty()) return RopeScaling::None;
  if (type == "linear") return RopeScaling::Linear;
  if (type == "llama3") return RopeScaling::Llama3;
  if (type == "dynamic") return RopeScaling::Dynamic;
  r.fail(key, "has rope type '" + type + "', which fpokit does not support (supported: default, linear, "
              "dynamic, llama3)");
}

}  // namespace

void ConfigReader::read_rope(ModelConfig& cfg, double default_theta) const {
  auto& rope = cfg.rope;
  rope.theta = number("rope_theta", default_theta);
  rope.partial_rotary_factor = number("partial_rotary_factor", 1.0);
  // The older style: rope_theta + rope_scaling; the newer: everything in rope_parameters.
  const std::string key = has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!has(key)) return;
  const nlohmann::json& params = json_.at(key);
  if (!params.is_object()) fail(key, "must be an object, got " + params.dump());
  if (params.contains("full_attention") || params.contains("sliding_attention")) {
    fail(key, "has per-layer-type RoPE parameters, which fpokit does not support");
  }
  const ConfigReader p(params, source_);
  const std::string type = p.has("rope_type") ? p.string("rope_type") : p.string("type", "default");
  rope.scaling = parse_rope_type(type, *this, key);
  rope.theta = p.number("rope_theta", rope.theta);
  rope.partial_rotary_factor = p.number("partial_rotary_factor", rope.partial_rotary_factor);
  rope.factor = p.number("factor", 1.0);
  if (rope.scaling == RopeScaling::Llama3) {
    rope.low_freq_factor = p.number("low_freq_factor");
    rope.high_freq_factor = p.number("high_freq_factor");
    rope.original_max_position_embeddings = p.integer("original_max_position_embeddings");
  } else {
    rope.original_max_position_embeddings = p.integer("original_max_position_embeddings", 0);
  }
  if ((rope.scaling == RopeScaling::Linear || rope.scaling == RopeScaling::Dynamic) && !p.has("factor")) {
    fail(key, "needs a 'factor' for rope type '" + type + "'");
  }
}

void ConfigReader::read_layer_kinds(ModelConfig& cfg, const std::vector<LayerKind>& fallback) const {
  if (!has("layer_types")) {
    cfg.layer_kinds = fallback;
    return;
  }
  const nlohmann::json& types = json_.at("layer_types");
  if (!types.is_array() || static_cast<int64_t>(types.size()) != cfg.num_layers) {
    fail("layer_types", "must be a list of " + std::to_string(cfg.num_layers) + " layer types");
  }
  cfg.layer_kinds.clear();
  for (const auto& t : types) {
    const std::string s = t.is_string() ? t.get<std::string>() : "";
    if (s == "full_attention") {
      cfg.layer_kinds.push_back(LayerKind::FullAttention);
    } else if (s == "sliding_attention") {
      cfg.layer_kinds.push_back(LayerKind::SlidingAttention);
    } else {
      fail("layer_types", "has '" + t.dump() + "' (expected full_attention or sliding_attention)");
    }
  }
}

}  // namespace fpokit::lm
