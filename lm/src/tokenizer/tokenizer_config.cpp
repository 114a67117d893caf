#include "fpokit/lm/tokenizer/tokenizer_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"

namespace fpokit::lm {
namespace {

std::optional<nlohmann::json> read_optional_json(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(path.string() + ": invalid JSON (" + e.what() + ")");
  }
  if (!json.is_object()) throw ConfigError(path.string() + ": expected a JSON object");
  return json;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& key, const std::string& problem) {
  throw ConfigError(file.string() + ": field '" + key + "' " + problem);
}

// A token given as "text", {"content": "text", ...} (older files add "__type": "AddedToken") or null.
std::optional<std::string> token_text(const nlohmann::json& value, const std::filesystem::path& file,
                                      const std::string& key) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string()) {
    return value.at("content").get<std::string>();
  }
  fail(file, key, "must be a string or an object with a \"content\" string, got " + value.dump());
}

// json[key] as a bool; `field` names it in messages (default: the key itself).
std::optional<bool> optional_bool(const nlohmann::json& json, const std::filesystem::path& file, const std::string& key,
                                  const std::string& field = "") {
  if (!json.contains(key) || json.at(key).is_null()) return std::nullopt;
  if (!json.at(key).is_boolean()) {
    fail(file, field.empty() ? key : field, "must be true or false, got " + json.at(key).dump());
  }
  return json.at(key).get<bool>();
}

void read_named_tokens(const nlohmann::json& json, const std::filesystem::path& file, TokenizerConfig& config) {
  const auto named = [&](const char* key, std::optional<std::string>& slot) {
    if (json.contains(key)) slot = token_text(json.at(key), file, key);
  };
  named("bos_token", config.bos_token);
  named("eos_token", config.eos_token);
  named("unk_token", config.unk_token);
  named("pad_token", config.pad_token);
  for (const char* key : {"mask_token", "cls_token", "sep_token"}) {
    if (json.contains(key)) {
      if (auto text = token_text(json.at(key), file, key)) config.other_special_tokens.push_back(*text);
    }
  }
  for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
    if (!json.contains(key) || json.at(key).is_null()) continue;
    const nlohmann::json& list = json.at(key);
    if (!list.is_array() && !list.is_object()) fail(file, key, "must be a list, got " + list.dump());
    for (const auto& item : list) {  // a list, or transformers 5's {name: token} form
      if (auto text = token_text(item, file, key)) config.other_special_tokens.push_back(*text);
    }
  }
}

AddedToken added_token(const std::string& id_text, const nlohmann::json& value, const std::filesystem::path& file) {
  const std::string key = "added_tokens_decoder." + id_text;
  AddedToken token;
  try {
    std::size_t used = 0;
    token.id = std::stoll(id_text, &used);
    if (used != id_text.size() || token.id < 0) throw std::invalid_argument(id_text);
  } catch (const std::exception&) {
    fail(file, key, "must be keyed by a token id");
  }
  const auto text = token_text(value, file, key);
  if (!text || !value.is_object()) fail(file, key, "must be an object with a \"content\" string");
  token.content = *text;
  const auto flag = [&](const char* name, bool fallback) {
    return optional_bool(value, file, name, key + "." + name).value_or(fallback);
  };
  token.special = flag("special", false);
  token.single_word = flag("single_word", false);
  token.lstrip = flag("lstrip", false);
  token.rstrip = flag("rstrip", false);
  token.normalized = flag("normalized", !token.special);
  return token;
}

}  // namespace

TokenizerConfig TokenizerConfig::read(const std::filesystem::path& model_dir) {
  TokenizerConfig config;
  const auto config_file = model_dir / "tokenizer_config.json";
  const auto json = read_optional_json(config_file);
  if (json) {
    read_named_tokens(*json, config_file, config);
    config.add_bos_token = optional_bool(*json, config_file, "add_bos_token");
    config.add_eos_token = optional_bool(*json, config_file, "add_eos_token");
    config.add_prefix_space = optional_bool(*json, config_file, "add_prefix_space");
    config.legacy = optional_bool(*json, config_file, "legacy");
    if (json->contains("added_tokens_decoder") && !json->at("added_tokens_decoder").is_null()) {
      const auto& decoder = json->at("added_tokens_decoder");
      if (!decoder.is_object()) fail(config_file, "added_tokens_decoder", "must be an object");
      for (const auto& [id, value] : decoder.items()) {
        config.added_tokens_decoder.push_back(added_token(id, value, config_file));
      }
    }
  }
  const auto map_file = model_dir / "special_tokens_map.json";
  if (const auto map = read_optional_json(map_file)) {
    // Fills only the names tokenizer_config.json does not mention (null there means "none").
    TokenizerConfig from_map;
    read_named_tokens(*map, map_file, from_map);
    const auto unset = [&](const char* key) { return !json || !json->contains(key); };
    if (unset("bos_token")) config.bos_token = from_map.bos_token;
    if (unset("eos_token")) config.eos_token = from_map.eos_token;
    if (unset("unk_token")) config.unk_token = from_map.unk_token;
    if (unset("pad_token")) config.pad_token = from_map.pad_token;
    for (const auto& token : from_map.other_special_tokens) config.other_special_tokens.push_back(token);
  }
  const auto generation_file = model_dir / "generation_config.json";
  if (const auto generation = read_optional_json(generation_file)) {
    if (generation->contains("eos_token_id") && !generation->at("eos_token_id").is_null()) {
      const auto& value = generation->at("eos_token_id");
      const auto add = [&](const nlohmann::json& id) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0) {
          fail(generation_file, "eos_token_id", "must be a token id or a list of them, got " + value.dump());
        }
        config.generation_eos_token_ids.push_back(id.get<int64_t>());
      };
      if (value.is_array()) {
        for (const auto& id : value) add(id);
      } else {
        add(value);
      }
    }
  }
  return config;
}

}  // namespace fpokit::lm
