#include "fpokit/lm/model/load_model.h"

#include <dlfcn.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_file.h"
#include "fpokit/lm/model/architecture_registry.h"

namespace fpokit::lm {

namespace {

std::string shape_str(c10::IntArrayRef shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void validate_config(const ModelConfig& c) {
  const auto fail = [&](const std::string& what) { throw ConfigError(c.source.string() + ": " + what); };
  if (c.vocab_size <= 0) fail("vocab_size must be positive");
  if (c.hidden_size <= 0) fail("hidden_size must be positive");
  if (c.num_layers <= 0) fail("the number of layers must be positive");
  if (c.num_heads <= 0 || c.num_kv_heads <= 0) fail("the numbers of attention and key/value heads must be positive");
  if (c.num_heads % c.num_kv_heads != 0) {
    fail("num_attention_heads (" + std::to_string(c.num_heads) + ") is not a multiple of num_key_value_heads (" +
         std::to_string(c.num_kv_heads) + ")");
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) fail("head_dim must be a positive even number");
  if (!c.layer_kinds.empty() && static_cast<int64_t>(c.layer_kinds.size()) != c.num_layers) {
    fail("layer_types has " + std::to_string(c.layer_kinds.size()) + " entries for " + std::to_string(c.num_layers) +
         " layers");
  }
}

torch::ScalarType dtype_of_name(const std::string& name, const std::filesystem::path& source) {
  if (name == "float32" || name == "float") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16" || name == "half") return torch::kFloat16;
  throw ConfigError(source.string() + ": field 'torch_dtype' has unsupported dtype '" + name +
                    "' (supported: float32, bfloat16, float16)");
}

bool is_float_dtype(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64; }

}  // namespace

torch::ScalarType resolve_dtype(const LoadOptions& options, const ModelConfig& config) {
  if (options.dtype) return *options.dtype;
  return options.device.is_cpu() ? torch::kFloat32 : dtype_of_name(config.torch_dtype, config.source);
}

torch::Device parse_device(const std::string& text) {
  if (text != "cpu" && text.rfind("cuda", 0) != 0) {
    throw InputError("--device '" + text + "': expected cpu, cuda or cuda:N");
  }
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(text);
  } catch (const c10::Error&) {
    throw InputError("--device '" + text + "': expected cpu, cuda or cuda:N");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw InputError("--device " + text + ": CUDA is not available (this build links " +
#ifdef FPOKIT_WITH_CUDA
                       std::string("LibTorch's CUDA backend, but no GPU is visible)")
#else
                       std::string("LibTorch without CUDA; rebuild with -DFPOKIT_CUDA=ON on a GPU machine)")
#endif
      );
    }
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
      throw InputError("--device " + text + ": only " + std::to_string(torch::cuda::device_count()) +
                       " CUDA device(s) visible");
    }
  }
  return device;
}

std::optional<torch::ScalarType> parse_dtype(const std::string& text) {
  if (text == "auto") return std::nullopt;
  if (text == "float32" || text == "fp32") return torch::kFloat32;
  if (text == "bfloat16" || text == "bf16") return torch::kBFloat16;
  if (text == "float16" || text == "fp16") return torch::kFloat16;
  throw InputError("--dtype '" + text + "': expected auto, float32, bfloat16 or float16");
}

ModelConfig load_model_config(const std::filesystem::path& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw ConfigError(model_dir.string() + ": not a directory (expected a HuggingFace model directory)");
  }
  const auto path = model_dir / "config.json";
  if (!std::filesystem::exists(path)) {
    throw ConfigError(model_dir.string() +
                      ": no config.json (expected a HuggingFace model directory with "
                      "config.json and model.safetensors)");
  }
  const auto json = core::read_json_file(path);
  const Architecture& arch = find_architecture(json, path);
  ModelConfig config = arch.parse_config(ConfigReader(json, path));
  config.architecture = arch.name;
  validate_config(config);
  return config;
}

namespace {

// Each parameter of `model` with the checkpoint tensor it is loaded from; CheckpointError listing
// every missing, mismatched and unexpected tensor at once when they do not match.
std::vector<std::pair<torch::Tensor, std::string>> match_checkpoint(CausalLMImpl& model, const Checkpoint& checkpoint) {
  std::vector<std::pair<torch::Tensor, std::string>> matched;
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> consumed;
  const auto aliases = model.checkpoint_prefix_aliases();
  for (auto& item : model.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    std::string stored = name;
    if (!checkpoint.contains(stored)) {
      for (const auto& [prefix, replacement] : aliases) {
        if (name.rfind(prefix, 0) == 0 && checkpoint.contains(replacement + name.substr(prefix.size()))) {
          stored = replacement + name.substr(prefix.size());
          break;
        }
      }
    }
    if (!checkpoint.contains(stored)) {
      missing.push_back(name + " " + shape_str(param.sizes()));
      continue;
    }
    consumed.insert(stored);
    const TensorInfo& info = checkpoint.info(stored);
    if (!is_float_dtype(info.dtype)) {
      mismatched.push_back(stored + ": dtype " + std::string(dtype_name(info.dtype)) + ", expected a float type");
      continue;
    }
    if (c10::IntArrayRef(info.shape) != param.sizes()) {
      mismatched.push_back(stored + ": shape " + shape_str(info.shape) + " in the checkpoint, the model expects " +
                           shape_str(param.sizes()));
      continue;
    }
    matched.emplace_back(param, stored);
  }
  for (const auto& name : checkpoint.names()) {
    if (!consumed.count(name) && !model.is_ignorable_checkpoint_tensor(name)) unexpected.push_back(name);
  }
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return matched;
  std::string message = checkpoint.directory().string() + ": checkpoint does not match " + model.config().architecture +
                        " as configured in config.json:";
  if (!missing.empty()) message += " missing " + std::to_string(missing.size()) + " tensor(s): " + join(missing) + ";";
  if (!mismatched.empty()) {
    message += " mismatched " + std::to_string(mismatched.size()) + " tensor(s): " + join(mismatched) + ";";
  }
  if (!unexpected.empty()) {
    message += " unexpected " + std::to_string(unexpected.size()) + " tensor(s): " + join(unexpected) + ";";
  }
  message.back() = '.';
  throw CheckpointError(message);
}

// MemAvailable of /proc/meminfo in bytes (what the kernel can hand out without swapping), or
// nullopt where there is no such file.
std::optional<int64_t> available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

// Free memory of a CUDA device in bytes, from the CUDA runtime that LibTorch's CUDA backend has
// already loaded (looked up, not linked, so that CPU-only builds need nothing), or nullopt when
// there is none or it does not answer.
std::optional<int64_t> free_cuda_memory(const torch::Device& device) {
  using SetDevice = int (*)(int);
  using MemGetInfo = int (*)(size_t*, size_t*);
  for (const char* soname : {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"}) {
    void* runtime = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
    if (runtime == nullptr) continue;
    const auto set_device = reinterpret_cast<SetDevice>(dlsym(runtime, "cudaSetDevice"));
    const auto mem_get_info = reinterpret_cast<MemGetInfo>(dlsym(runtime, "cudaMemGetInfo"));
    size_t free = 0, total = 0;
    const bool ok = set_device != nullptr && mem_get_info != nullptr &&
                    set_device(device.has_index() ? device.index() : 0) == 0 && mem_get_info(&free, &total) == 0;
    dlclose(runtime);
    if (ok) return static_cast<int64_t>(free);
    return std::nullopt;
  }
  return std::nullopt;
}

std::string gib(int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << static_cast<double>(bytes) / (1024.0 * 1024 * 1024) << " GiB";
  return os.str();
}

void check_model_fits(const ModelConfig& config, const Architecture& arch, const Checkpoint& checkpoint,
                      const torch::TensorOptions& options) {
  // Built on the meta device: shapes without storage, so sizes that cannot be right cost nothing.
  CausalLM meta = arch.build(config, options.device(torch::kMeta));
  int64_t bytes = 0;
  for (const auto& p : meta->parameters()) bytes += p.numel() * static_cast<int64_t>(p.element_size());
  match_checkpoint(*meta, checkpoint);
  if (options.device().is_cpu()) {
    const auto available = available_host_memory();
    if (available && bytes > *available)
      throw InputError(checkpoint.directory().string() + ": the model needs " + gib(bytes) + " for its weights in " +
                       std::string(c10::toString(options.dtype().toScalarType())) + " but only " + gib(*available) +
                       " of memory is available: use --dtype bfloat16, a GPU (--device cuda), or a smaller model");
  } else if (options.device().is_cuda()) {
    const auto available = free_cuda_memory(options.device());
    if (available && bytes > *available)
      throw InputError(checkpoint.directory().string() + ": the model needs " + gib(bytes) + " for its weights in " +
                       std::string(c10::toString(options.dtype().toScalarType())) + " but " + options.device().str() +
                       " has only " + gib(*available) +
                       " free: use --dtype bfloat16, another GPU (--device cuda:N), free the GPU, or a smaller model");
  }
}

}  // namespace

void check_context_fits(const ModelConfig& config, int64_t tokens, const std::string& option) {
  if (config.max_position_embeddings > 0 && tokens > config.max_position_embeddings)
    throw InputError(option + " " + std::to_string(tokens) + " is longer than the model's max_position_embeddings (" +
                     std::to_string(config.max_position_embeddings) + ", " + config.source.string() +
                     "): give at most " + std::to_string(config.max_position_embeddings));
}

ContextSize resolve_context_size(const ModelConfig& config, int64_t requested, int64_t preferred) {
  if (requested < 0) throw InputError("--context-size must be positive, got " + std::to_string(requested));
  if (requested > 0) {
    check_context_fits(config, requested, "--context-size");
    return {requested, ""};
  }
  constexpr int64_t kDefault = 1024;
  const int64_t max_positions = config.max_position_embeddings;
  ContextSize out{kDefault, "the default"};
  if (preferred > 0 && (max_positions <= 0 || preferred <= max_positions)) {
    out = {preferred, "the context the SAE was trained with"};
  } else if (max_positions > 0 && max_positions < kDefault) {
    out = {max_positions, "the model's max_position_embeddings"};
  }
  out.note = "--context-size not given: " + std::to_string(out.tokens) + " tokens per row (" + out.note + ")";
  return out;
}

void load_weights(CausalLMImpl& model, const Checkpoint& checkpoint) {
  torch::NoGradGuard no_grad;
  for (auto& [param, stored] : match_checkpoint(model, checkpoint)) param.copy_(checkpoint.view(stored));
}

CausalLM load_model(const std::filesystem::path& model_dir, const LoadOptions& options) {
  const ModelConfig config = load_model_config(model_dir);
  const Architecture* arch = nullptr;
  for (const auto& a : architectures()) {
    if (a.name == config.architecture) arch = &a;
  }
  const torch::ScalarType dtype = resolve_dtype(options, config);
  const auto checkpoint = Checkpoint::open(model_dir);
  const auto tensor_options = torch::TensorOptions().dtype(dtype).device(options.device);
  check_model_fits(config, *arch, checkpoint, tensor_options);
  CausalLM model = arch->build(config, tensor_options);
  load_weights(*model, checkpoint);
  model->eval();
  return model;
}

}  // namespace fpokit::lm
