#include "fpokit/sae/io/sae_io.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/sae/io/npz.h"

namespace fpokit::sae {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kSaeLensWeights = "sae_weights.safetensors";
constexpr const char* kSparsifyWeights = "sae.safetensors";
constexpr const char* kConfig = "cfg.json";
constexpr const char* kGemmaScopeParams = "params.npz";

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot open (missing file?)");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw ConfigError(path.string() + ": not valid JSON: " + e.what());
  }
}

std::string shape_string(at::IntArrayRef s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

// Copies `src` (any float dtype) into the parameter `dst` after checking its shape.
void assign(torch::Tensor& dst, const torch::Tensor& src, const std::string& file, const std::string& name) {
  if (!src.is_floating_point())
    throw CheckpointError(file + ": tensor " + name + " is not floating point (" +
                          std::string(c10::toString(src.scalar_type())) + ")");
  if (src.sizes() != dst.sizes())
    throw CheckpointError(file + ": tensor " + name + " has shape " + shape_string(src.sizes()) + ", expected " +
                          shape_string(dst.sizes()) + " from d_in/d_sae");
  torch::NoGradGuard no_grad;
  dst.copy_(src.to(torch::kFloat32));
}

torch::Tensor require(const lm::SafetensorsFile& file, const std::string& name) {
  if (!file.find(name)) throw CheckpointError(file.path().string() + ": missing tensor " + name);
  return file.load(name);
}

// The file's `name` has the shape the config implies, checked from the safetensors header before
// the SAE is built: a cfg.json whose d_in or d_sae is absurd (4.3e12) must be an error naming the
// tensor, not an attempt to allocate terabytes.
void check_shape_before_building(const lm::SafetensorsFile& file, const std::string& name,
                                 const std::vector<int64_t>& expected, const std::string& config) {
  if (!file.find(name)) throw CheckpointError(file.path().string() + ": missing tensor " + name);
  const auto& shape = file.info(name).shape;
  if (shape != expected)
    throw CheckpointError(file.path().string() + ": tensor " + name + " has shape " + shape_string(shape) + ", but " +
                          config + " implies " + shape_string(expected) + "; the config and the weights disagree");
}

// A BatchTopK SAE saved by SAELens-style code carries θ·ones(d_sae) as "threshold".
double single_threshold(const torch::Tensor& threshold, const std::string& file) {
  const auto t = threshold.to(torch::kFloat64);
  const double first = t.numel() ? t[0].item<double>() : 0.0;
  if (t.numel() && !torch::allclose(t, torch::full_like(t, first), 0.0, 1e-12))
    throw CheckpointError(file + ": tensor threshold of a batchtopk SAE must hold one value repeated");
  return first;
}

}  // namespace

void save_saelens(const SparseAutoencoderImpl& sae, const fs::path& dir) {
  SaeConfig cfg = sae.config();
  torch::NoGradGuard no_grad;
  auto W_enc = sae.W_enc.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto W_dec = sae.W_dec.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto b_enc = sae.b_enc.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto b_dec = sae.b_dec.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (cfg.normalization == ActivationNormalization::ExpectedAverageOnlyIn) {
    // SAELens inference has no scale factor: fold it (fold_activation_norm_scaling_factor).
    const double s = cfg.activation_scale;
    W_enc = W_enc * s;
    W_dec = W_dec / s;
    b_dec = b_dec / s;
    cfg.activation_scale = 1.0;
    cfg.normalization = ActivationNormalization::None;
  }
  // SAELens's gated layout names the gate bias b_gate and has no b_enc.
  const bool gated = cfg.architecture == Architecture::Gated;
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"W_dec", W_dec}, {"W_enc", W_enc}, {"b_dec", b_dec}, {gated ? "b_gate" : "b_enc", b_enc}};
  if (gated) {
    tensors.emplace_back("b_mag", sae.b_mag.detach().to(torch::kCPU, torch::kFloat32).contiguous());
    tensors.emplace_back("r_mag", sae.r_mag.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  if (cfg.architecture == Architecture::JumpReLU) {
    tensors.emplace_back("threshold", sae.threshold.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  } else if (cfg.architecture == Architecture::BatchTopK) {
    tensors.emplace_back("threshold", torch::full({cfg.d_sae}, sae.batch_topk_threshold().item<double>(),
                                                  torch::TensorOptions().dtype(torch::kFloat32)));
  }
  cfg.dtype = "float32";

  core::write_directory_atomically(dir, [&](const fs::path& tmp) {
    lm::write_safetensors(tmp / kSaeLensWeights, tensors);
    std::ofstream out(tmp / kConfig, std::ios::binary);
    out << cfg.to_saelens_json().dump(2) << '\n';
    out.close();
    if (!out) throw InputError((tmp / kConfig).string() + ": write failed (disk full?)");
  });
}

SparseAutoencoder load_saelens(const fs::path& dir) {
  const fs::path cfg_path = dir / kConfig;
  const json j = read_json(cfg_path);
  SaeConfig cfg = SaeConfig::from_saelens_json(j, cfg_path.string());
  bool rescale_by_decoder_norm = false;
  try {
    rescale_by_decoder_norm = j.value("rescale_acts_by_decoder_norm", false);
  } catch (const json::exception& e) {
    throw ConfigError(cfg_path.string() + ": field \"rescale_acts_by_decoder_norm\" has the wrong type: " + e.what());
  }
  const fs::path weights_path = dir / kSaeLensWeights;
  if (!fs::exists(weights_path)) throw CheckpointError(weights_path.string() + ": missing file");
  const lm::SafetensorsFile file(weights_path);
  const std::string where = weights_path.string();

  check_shape_before_building(file, "W_enc", {cfg.d_in, cfg.d_sae}, cfg_path.string());
  SparseAutoencoder sae(cfg);
  assign(sae->W_enc, require(file, "W_enc"), where, "W_enc");
  assign(sae->W_dec, require(file, "W_dec"), where, "W_dec");
  if (cfg.architecture == Architecture::Gated) {
    assign(sae->b_enc, require(file, "b_gate"), where, "b_gate");
    assign(sae->b_mag, require(file, "b_mag"), where, "b_mag");
    assign(sae->r_mag, require(file, "r_mag"), where, "r_mag");
  } else {
    assign(sae->b_enc, require(file, "b_enc"), where, "b_enc");
  }
  assign(sae->b_dec, require(file, "b_dec"), where, "b_dec");
  if (cfg.architecture == Architecture::JumpReLU) {
    assign(sae->threshold, require(file, "threshold"), where, "threshold");
  } else if (cfg.architecture == Architecture::BatchTopK) {
    auto t = require(file, "threshold");
    if (t.dim() != 1 || t.size(0) != cfg.d_sae)
      throw CheckpointError(where + ": tensor threshold has shape " + shape_string(t.sizes()) + ", expected [" +
                            std::to_string(cfg.d_sae) + "]");
    sae->set_batch_topk_threshold(single_threshold(t, where));
  }
  // SAELens TopK SAEs trained with rescale_acts_by_decoder_norm select on pre·‖W_dec_i‖ and
  // decode with W_dec/‖W_dec_i‖; folding the norms gives the same features and x̂.
  if (cfg.architecture == Architecture::TopK && rescale_by_decoder_norm) sae->fold_decoder_norms();
  sae->eval();
  return sae;
}

SparseAutoencoder load_sparsify(const fs::path& dir) {
  const fs::path cfg_path = dir / kConfig;
  const json j = read_json(cfg_path);
  const std::string cwhere = cfg_path.string();
  if (!j.is_object()) throw ConfigError(cwhere + ": expected a JSON object");
  std::string activation;
  bool transcoder = false;
  try {
    activation = j.value("activation", "topk");
    transcoder = j.value("skip_connection", false) || j.value("transcode", false);
  } catch (const json::exception& e) {
    throw ConfigError(cwhere + ": mistyped field (activation, skip_connection, transcode): " + e.what());
  }
  if (activation != "topk")
    throw ConfigError(cwhere + ": unsupported sparsify activation \"" + activation + "\" (supported: topk)");
  if (transcoder) throw ConfigError(cwhere + ": sparsify transcoders / skip connections are not supported");
  const fs::path weights_path = dir / kSparsifyWeights;
  if (!fs::exists(weights_path)) throw CheckpointError(weights_path.string() + ": missing file");
  const lm::SafetensorsFile file(weights_path);
  const std::string where = weights_path.string();
  const auto encoder_weight = require(file, "encoder.weight");
  if (encoder_weight.dim() != 2)
    throw CheckpointError(where + ": tensor encoder.weight must be 2-D [num_latents, d_in]");

  SaeConfig cfg;
  cfg.architecture = Architecture::TopK;
  cfg.apply_b_dec_to_input = true;
  cfg.d_in = core::json_integer_field(j, "d_in", cwhere);
  cfg.k = core::json_integer_field(j, "k", cwhere);
  const int64_t num_latents =
      j.contains("num_latents") && !j["num_latents"].is_null() ? core::json_integer_field(j, "num_latents", cwhere) : 0;
  const int64_t expansion_factor = j.contains("expansion_factor") && !j["expansion_factor"].is_null()
                                       ? core::json_integer_field(j, "expansion_factor", cwhere)
                                       : 32;
  if (num_latents <= 0 && (expansion_factor <= 0 || cfg.d_in <= 0 || expansion_factor > (int64_t{1} << 40) / cfg.d_in))
    throw ConfigError(cwhere + ": field 'expansion_factor' (" + std::to_string(expansion_factor) +
                      ") times d_in must be a positive width; or set num_latents");
  cfg.d_sae = num_latents > 0 ? num_latents : cfg.d_in * expansion_factor;
  // The folder name is the hookpoint: layers.N is the output of block N.
  fs::path folder = fs::absolute(dir).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // "layers.3/"
  const std::string hookpoint = folder.filename().string();
  if (hookpoint.rfind("layers.", 0) == 0 && hookpoint.find_first_not_of("0123456789", 7) == std::string::npos &&
      hookpoint.size() > 7)
    cfg.hook_name = "blocks." + hookpoint.substr(7) + ".hook_resid_post";
  else cfg.hook_name = hookpoint;
  cfg.validate(cwhere);

  check_shape_before_building(file, "encoder.weight", {cfg.d_sae, cfg.d_in}, cwhere);
  SparseAutoencoder sae(cfg);
  assign(sae->W_enc, encoder_weight.t(), where, "encoder.weight (transposed)");
  assign(sae->b_enc, require(file, "encoder.bias"), where, "encoder.bias");
  assign(sae->W_dec, require(file, "W_dec"), where, "W_dec");
  assign(sae->b_dec, require(file, "b_dec"), where, "b_dec");
  sae->eval();
  return sae;
}

SparseAutoencoder load_gemma_scope(const fs::path& path) {
  const fs::path npz = fs::is_directory(path) ? path / kGemmaScopeParams : path;
  const std::string where = npz.string();
  if (!fs::exists(npz)) throw CheckpointError(where + ": missing file");
  auto params = read_npz(npz);
  // Early releases spelled the weights w_enc / w_dec (SAELens renames them).
  for (const char* name : {"enc", "dec"}) {
    const std::string lower = std::string("w_") + name, upper = std::string("W_") + name;
    if (!params.count(upper) && params.count(lower)) params[upper] = params[lower];
  }
  auto get = [&](const std::string& name) -> torch::Tensor {
    auto it = params.find(name);
    if (it == params.end()) throw CheckpointError(where + ": missing tensor " + name);
    return it->second;
  };
  const auto W_enc = get("W_enc");
  if (W_enc.dim() != 2)
    throw CheckpointError(where + ": tensor W_enc has shape " + shape_string(W_enc.sizes()) +
                          ", expected [d_model, d_sae]");
  SaeConfig cfg;
  cfg.architecture = Architecture::JumpReLU;
  cfg.apply_b_dec_to_input = false;  // Gemma Scope encodes x, not x − b_dec
  cfg.d_in = W_enc.size(0);
  cfg.d_sae = W_enc.size(1);
  cfg.validate(where);
  SparseAutoencoder sae(cfg);
  assign(sae->W_enc, W_enc, where, "W_enc");
  assign(sae->W_dec, get("W_dec"), where, "W_dec");
  assign(sae->b_enc, get("b_enc"), where, "b_enc");
  assign(sae->b_dec, get("b_dec"), where, "b_dec");
  assign(sae->threshold, get("threshold"), where, "threshold");
  if (auto it = params.find("scaling_factor"); it != params.end()) {
    if (!torch::all(it->second == 1).item<bool>())
      throw CheckpointError(where +
                            ": tensor scaling_factor is not all ones; rescaled Gemma Scope SAEs are not supported");
  }
  sae->eval();
  return sae;
}

SaeFormat detect_format(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    if (path.extension() == ".npz") return SaeFormat::GemmaScope;
    throw CheckpointError(path.string() + ": not an SAE (expected a folder, or a Gemma Scope params.npz)");
  }
  if (!fs::is_directory(path, ec)) throw CheckpointError(path.string() + ": no such file or folder");
  if (fs::exists(path / kSaeLensWeights)) return SaeFormat::SAELens;
  if (fs::exists(path / kSparsifyWeights)) return SaeFormat::Sparsify;
  if (fs::exists(path / kGemmaScopeParams)) return SaeFormat::GemmaScope;
  throw CheckpointError(path.string() + ": no SAE found (expected " + kSaeLensWeights + " + cfg.json (SAELens), " +
                        kSparsifyWeights + " + cfg.json (sparsify) or " + kGemmaScopeParams + " (Gemma Scope))");
}

SparseAutoencoder load_sae(const fs::path& path) {
  switch (detect_format(path)) {
    case SaeFormat::SAELens: return load_saelens(path);
    case SaeFormat::Sparsify: return load_sparsify(path);
    case SaeFormat::GemmaScope: return load_gemma_scope(path);
  }
  throw CheckpointError(path.string() + ": unknown SAE format");
}

}  // namespace fpokit::sae
