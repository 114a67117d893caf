#include "fpokit/sae/model/sae_config.h"

#include <cmath>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_integer.h"

namespace fpokit::sae {

using nlohmann::json;

std::string_view architecture_name(Architecture a) {
  switch (a) {
    case Architecture::TopK: return "topk";
    case Architecture::BatchTopK: return "batchtopk";
    case Architecture::ReLU: return "relu";
    case Architecture::JumpReLU: return "jumprelu";
    case Architecture::Gated: return "gated";
  }
  return "?";
}

Architecture parse_architecture(std::string_view name) {
  if (name == "topk") return Architecture::TopK;
  if (name == "batchtopk") return Architecture::BatchTopK;
  if (name == "relu" || name == "standard") return Architecture::ReLU;
  if (name == "jumprelu") return Architecture::JumpReLU;
  if (name == "gated") return Architecture::Gated;
  throw ConfigError("unknown SAE architecture \"" + std::string(name) +
                    "\" (supported: topk, batchtopk, relu/standard, jumprelu, gated)");
}

std::string_view normalization_name(ActivationNormalization n) {
  switch (n) {
    case ActivationNormalization::None: return "none";
    case ActivationNormalization::ExpectedAverageOnlyIn: return "expected_average_only_in";
    case ActivationNormalization::ConstantNormRescale: return "constant_norm_rescale";
    case ActivationNormalization::LayerNorm: return "layer_norm";
  }
  return "?";
}

ActivationNormalization parse_normalization(std::string_view name) {
  if (name == "none") return ActivationNormalization::None;
  if (name == "expected_average_only_in") return ActivationNormalization::ExpectedAverageOnlyIn;
  if (name == "constant_norm_rescale") return ActivationNormalization::ConstantNormRescale;
  if (name == "layer_norm") return ActivationNormalization::LayerNorm;
  throw ConfigError("unknown normalize_activations \"" + std::string(name) +
                    "\" (supported: none, expected_average_only_in, constant_norm_rescale, layer_norm)");
}

void SaeConfig::validate(std::string_view where) const {
  const std::string w(where);
  if (d_in <= 0) throw ConfigError(w + ": d_in must be positive, got " + std::to_string(d_in));
  if (d_sae <= 0) throw ConfigError(w + ": d_sae must be positive, got " + std::to_string(d_sae));
  if ((architecture == Architecture::TopK || architecture == Architecture::BatchTopK) && (k < 1 || k > d_sae))
    throw ConfigError(w + ": k must be in [1, d_sae=" + std::to_string(d_sae) + "] for " +
                      std::string(architecture_name(architecture)) + ", got " + std::to_string(k));
  if (!(activation_scale > 0.0))
    throw ConfigError(w + ": activation scale factor must be positive, got " + std::to_string(activation_scale));
  if (!(jumprelu_bandwidth > 0.0))
    throw ConfigError(w + ": jumprelu bandwidth must be positive, got " + std::to_string(jumprelu_bandwidth));
}

namespace {

// The SAELens release whose inference cfg.json this writer follows: tests/sae/test_sae_io.cpp
// compares its output with the files SAELens 6.54.12 itself writes. SAELens reads a cfg.json
// without metadata.sae_lens_version (or one below 6.0) as a pre-6.0 flat config, which drops the
// nested metadata (hook_name, model_name, ...).
constexpr const char* kSaeLensFormatVersion = "6.54.12";

// SAELens's name for the architecture an SAE was trained as (metadata.training_architecture).
const char* saelens_training_architecture(Architecture a) {
  switch (a) {
    case Architecture::TopK: return "topk";
    case Architecture::BatchTopK: return "batchtopk";
    case Architecture::ReLU: return "standard";
    case Architecture::JumpReLU: return "jumprelu";
    case Architecture::Gated: return "gated";
  }
  return "?";
}

}  // namespace

json SaeConfig::to_saelens_json() const {
  json j;
  // SAELens has no inference "batchtopk": it saves BatchTopK as a JumpReLU with θ per latent.
  const bool is_batchtopk = architecture == Architecture::BatchTopK;
  j["architecture"] = architecture == Architecture::ReLU ? "standard"
                      : is_batchtopk                     ? "jumprelu"
                                                         : std::string(architecture_name(architecture));
  j["d_in"] = d_in;
  j["d_sae"] = d_sae;
  j["dtype"] = dtype;
  j["device"] = "cpu";
  j["apply_b_dec_to_input"] = apply_b_dec_to_input;
  j["normalize_activations"] = std::string(normalization_name(normalization));
  j["reshape_activations"] = "none";
  if (architecture == Architecture::TopK) {
    j["k"] = k;
    j["rescale_acts_by_decoder_norm"] = false;
  }
  json meta;
  meta["sae_lens_version"] = kSaeLensFormatVersion;
  meta["model_name"] = model_name;
  meta["hook_name"] = hook_name;
  meta["hook_head_index"] = nullptr;
  meta["context_size"] = context_size;
  meta["prepend_bos"] = prepend_bos;
  meta["seqpos_slice"] = json::array({nullptr});  // SAELens's default (None,): every position
  meta["model_from_pretrained_kwargs"] = json::object();
  // As SAELens records them when it saves a trained SAE for inference (a BatchTopK one is
  // recognised by these); the details hold only the settings SaeConfig has.
  meta["training_architecture"] = saelens_training_architecture(architecture);
  json details = json::object();
  if (is_batchtopk) details["k"] = k;
  if (architecture == Architecture::JumpReLU) details["jumprelu_bandwidth"] = jumprelu_bandwidth;
  meta["training_architecture_details"] = details;
  meta["fpokit_architecture"] = std::string(architecture_name(architecture));
  if (is_batchtopk) meta["fpokit_k"] = k;
  if (activation_scale != 1.0) meta["fpokit_activation_scale"] = activation_scale;
  if (architecture == Architecture::JumpReLU || is_batchtopk) meta["fpokit_jumprelu_bandwidth"] = jumprelu_bandwidth;
  j["metadata"] = meta;
  return j;
}

namespace {

// Typed field access with errors that name the file and the key.
template <class T>
T get_field(const json& obj, const char* key, std::string_view where, const T& fallback, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) throw ConfigError(std::string(where) + ": missing field \"" + key + "\"");
    return fallback;
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // Not get<T>(): it casts a float such as 4.3e93 to int64 with undefined behaviour.
    const auto value = core::json_to_int64(*it);
    if (!value)
      throw ConfigError(std::string(where) + ": field \"" + key +
                        "\" has the wrong type (an integer is required, got " + it->dump() + ")");
    return static_cast<T>(*value);
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw ConfigError(std::string(where) + ": field \"" + key + "\" has the wrong type (" + it->dump() + ")");
  }
}

}  // namespace

SaeConfig SaeConfig::from_saelens_json(const json& j, std::string_view where) {
  if (!j.is_object()) throw ConfigError(std::string(where) + ": expected a JSON object");
  SaeConfig c;
  const json empty = json::object();
  const json& meta = j.contains("metadata") && j["metadata"].is_object() ? j["metadata"] : empty;

  std::string arch;
  if (j.contains("architecture")) {
    arch = get_field<std::string>(j, "architecture", where, "", true);
  } else if (j.contains("activation_fn_str")) {  // pre-6.0 flat config
    arch = get_field<std::string>(j, "activation_fn_str", where, "", true);
    if (arch == "relu") arch = "standard";
  } else {
    arch = "standard";  // SAELens's default
  }
  try {
    c.architecture = parse_architecture(arch);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(where) + ": " + e.what());
  }
  // SAELens saves a trained BatchTopK SAE as "jumprelu" (θ·ones) and records what it was trained
  // as in metadata.training_architecture, with k in training_architecture_details. fpokit's own
  // key fpokit_architecture (written too; alone in files of older fpokit versions) comes first.
  const json& details =
      meta.contains("training_architecture_details") && meta["training_architecture_details"].is_object()
          ? meta["training_architecture_details"]
          : empty;
  const std::string trained_as = get_field<std::string>(meta, "training_architecture", where, "", false);
  if (meta.contains("fpokit_architecture")) {
    const auto saved = get_field<std::string>(meta, "fpokit_architecture", where, "", true);
    if (saved == "batchtopk") c.architecture = Architecture::BatchTopK;
  } else if (c.architecture == Architecture::JumpReLU && trained_as == "batchtopk") {
    // SAELens's k is a float (an average per token). fpokit's BatchTopK needs a whole k; with
    // another the SAE stays the JumpReLU it was saved as, which gives the same inference.
    const auto it = details.find("k");
    const double k = it != details.end() && it->is_number() ? it->get<double>() : 0.0;
    if (k >= 1.0 && k < 1e15 && std::trunc(k) == k) c.architecture = Architecture::BatchTopK;
  }

  c.d_in = get_field<int64_t>(j, "d_in", where, 0, true);
  c.d_sae = get_field<int64_t>(j, "d_sae", where, 0, true);
  if (c.architecture == Architecture::TopK) {
    if (j.contains("k")) {
      c.k = get_field<int64_t>(j, "k", where, 0, true);
    } else if (j.contains("activation_fn_kwargs") && j["activation_fn_kwargs"].is_object()) {
      c.k = get_field<int64_t>(j["activation_fn_kwargs"], "k", where, 0, true);
    } else {
      throw ConfigError(std::string(where) + ": missing field \"k\" for a topk SAE");
    }
  } else if (c.architecture == Architecture::BatchTopK) {
    c.k = j.contains("k")             ? get_field<int64_t>(j, "k", where, 0, true)
          : meta.contains("fpokit_k") ? get_field<int64_t>(meta, "fpokit_k", where, 0, true)
                                      : get_field<int64_t>(details, "k", where, 0, true);
  }
  c.apply_b_dec_to_input = get_field<bool>(j, "apply_b_dec_to_input", where, true, false);
  try {
    c.normalization = parse_normalization(get_field<std::string>(j, "normalize_activations", where, "none", false));
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(where) + ": " + e.what());
  }
  c.activation_scale = get_field<double>(meta, "fpokit_activation_scale", where, 1.0, false);
  // A SAELens JumpReLU keeps its STE bandwidth in the training details.
  if (trained_as == "jumprelu")
    c.jumprelu_bandwidth = get_field<double>(details, "jumprelu_bandwidth", where, c.jumprelu_bandwidth, false);
  c.jumprelu_bandwidth = get_field<double>(meta, "fpokit_jumprelu_bandwidth", where, c.jumprelu_bandwidth, false);
  c.dtype = get_field<std::string>(j, "dtype", where, "float32", false);

  // v6 keeps provenance in "metadata"; pre-6.0 files have it at the top level.
  const json& prov = meta.contains("hook_name") ? meta : j;
  c.model_name = get_field<std::string>(prov, "model_name", where, "", false);
  c.hook_name = prov.contains("hook_name") ? get_field<std::string>(prov, "hook_name", where, "", false)
                                           : get_field<std::string>(prov, "hook_point", where, "", false);
  c.context_size = get_field<int64_t>(prov, "context_size", where, 0, false);
  c.prepend_bos = get_field<bool>(prov, "prepend_bos", where, true, false);
  c.validate(where);
  return c;
}

}  // namespace fpokit::sae
