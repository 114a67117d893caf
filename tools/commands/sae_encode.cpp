// fpokit sae encode: feature activations of an SAE for users' own analyses (sae_encoding.h).
#include <memory>

#include <torch/torch.h>

#include "commands.h"
#include "dataset_options.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/harvesting_source.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/model/sae_encoding.h"
#include "hub_names.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct SaeEncodeArgs {
  std::string sae;
  std::string acts;
  ModelOptions model;
  std::string data;
  std::string out;
  bool overwrite_output = false;
  int64_t tokens = 65536;
  sae::HarvestOptions harvest;
  sae::EncodeOptions encode;
};

void run_sae_encode(SaeEncodeArgs& a) {
  core::check_output_location(a.out, core::OutputKind::File, {.resume = false, .overwrite = a.overwrite_output});
  if (a.acts.empty() == a.data.empty())
    throw InputError("give either --acts FILE.safetensors or --model DIR --data FILE");
  auto sae_module = sae::load_sae(a.sae);
  sae_module->eval();
  std::map<std::string, std::string> meta{{"sae", a.sae}};
  if (!a.acts.empty()) {
    const auto acts = sae::read_activations_tensor(a.acts);
    meta["activations"] = a.acts;
    sae::encode_activations(*sae_module, acts, a.out, a.encode, {}, meta);
    core::log::info("wrote " + a.out);
    return;
  }
  if (a.model.model_dir.empty()) throw InputError("--data needs --model: the model whose activations to encode");
  const auto& hook_name = sae_module->config().hook_name;
  if (hook_name.empty())
    throw InputError(a.sae + " does not say which hook it was trained on; encode from --acts instead");
  std::shared_ptr<const lm::Tokenizer> tokenizer = lm::Tokenizer::from_directory(a.model.model_dir);
  const auto model = lm::load_model(a.model.model_dir, a.model.load_options());
  model->eval();
  sae_module->to(model->parameters().front().device());
  const auto context =
      lm::resolve_context_size(model->config(), a.harvest.context_size, sae_module->config().context_size);
  a.harvest.context_size = context.tokens;
  sae::HarvestingSource source(model, tokenizer, {lm::HookName::parse(hook_name)}, a.data, a.harvest);
  if (!context.note.empty()) core::log::info(context.note);
  std::vector<sae::ActivationRows> parts;
  int64_t n = 0;
  while (n < a.tokens) {
    auto rows = source.next();
    if (!rows) break;
    n += rows->size();
    parts.push_back(std::move(*rows));
  }
  if (n == 0) throw InputError("dataset " + a.data + " yields no token to encode");
  const auto all = sae::ActivationRows::cat(parts).slice(0, std::min(n, a.tokens));
  meta["model"] = a.model.model_dir;
  meta["data"] = a.data;
  sae::encode_activations(
      *sae_module, all.activations[0], a.out, a.encode,
      {{"token_ids", all.token_ids}, {"positions", all.positions}, {"sequence_ids", all.sequence_ids}}, meta);
  core::log::info("wrote " + a.out + " (" + std::to_string(all.size()) + " tokens)");
}

}  // namespace

void add_sae_encode_command(CLI::App& sae) {
  auto args = std::make_shared<SaeEncodeArgs>();
  auto* cmd = sae.add_subcommand("encode", "Write an SAE's feature activations (sparse CSR or dense) to safetensors");
  add_example_on_default(
      cmd,
      "fpokit sae encode --sae examples/demo/sae/blocks.1.hook_resid_post --model examples/demo/model --data "
      "examples/demo/corpus_heldout.jsonl --tokens 4096 --out runs/tour/features.safetensors");
  accept_hub_name(cmd->add_option("--sae", args->sae, "SAE folder (SAELens or sparsify) or Gemma Scope params.npz"),
                  core::HubRepoType::Model)
      ->required()
      ->group("SAE");
  args->model.add_to(*cmd, {.model = "HuggingFace model directory (with --data)", .required = false});
  cmd->add_option("--acts", args->acts, "safetensors file with an `activations` tensor [tokens, d_in]")->group("Data");
  accept_hub_name(cmd->add_option("--data", args->data,
                                  "Text corpus (.jsonl, .jsonl.gz, .json, .parquet, a dataset folder, or plain text), "
                                  "harvested at the SAE's hook"),
                  core::HubRepoType::Dataset)
      ->group("Data");
  add_split_option(*cmd, args->harvest.split);
  cmd->add_option("--text-field", args->harvest.text_field, "Record field holding the text (JSON, Parquet)")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--tokens", args->tokens, "Tokens to encode (with --data)")->capture_default_str()->group("Data");
  cmd->add_option("--context-size", args->harvest.context_size,
                  "Tokens per context row (0: the SAE's training context, else min(1024, the model's "
                  "max_position_embeddings))")
      ->capture_default_str()
      ->group("Data");
  cmd->add_option("--out", args->out, "Output safetensors file")->required()->group("Output");
  cmd->add_flag("--overwrite-output-dir", args->overwrite_output, "Replace an existing --out file")->group("Output");
  cmd->add_flag("--dense", args->encode.dense, "Dense [tokens, d_sae] features instead of CSR")->group("Output");
  cmd->add_flag("--reconstruction", args->encode.reconstruction, "Also write the reconstruction [tokens, d_in]")
      ->group("Output");
  cmd->callback([args] { run_sae_encode(*args); });
}

}  // namespace fpokit::cli
