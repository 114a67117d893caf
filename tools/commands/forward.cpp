// fpokit forward: logits and residual-stream activations of a batch of token ids, in float32, to
// a safetensors file. The batch is right-padded; positions where attention_mask is 0 are written
// as zeros (the model's outputs there are not meaningful). With --adapter, the logits are those of
// the model with a PEFT LoRA adapter applied (unmerged, as PEFT computes them).
#include <map>
#include <memory>

#include <torch/torch.h>

#include "cli_vocabulary.h"
#include "commands.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/checkpoint/safetensors.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/lora.h"
#include "fpokit/lm/model/padded_batch.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct ForwardArgs {
  ModelOptions model;
  std::string adapter;
  std::string input_ids;
  std::string out;
  std::vector<std::string> hooks;
};

void run_forward(const ForwardArgs& args) {
  std::vector<lm::HookName> hook_names;
  for (const auto& h : args.hooks) hook_names.push_back(lm::HookName::parse(h));
  const auto sequences = lm::read_token_id_lists(args.input_ids);
  const auto config = lm::load_model_config(args.model.model_dir);
  const auto batch =
      lm::make_padded_batch(sequences, config.vocab_size, config.pad_token_id.value_or(0), args.input_ids);
  lm::Hooks hooks;
  for (const auto& h : hook_names) hooks.capture(h);
  const auto model = lm::load_model(args.model.model_dir, args.model.load_options());
  hooks.validate(model->config(), model->has_resid_mid());
  if (!args.adapter.empty()) lm::LoraAdapters::load_peft(*model, args.adapter);  // the layers keep the adapters

  torch::NoGradGuard no_grad;
  const auto device = model->parameters().front().device();
  const auto logits = model->forward({batch.input_ids.to(device), batch.attention_mask.to(device)}, &hooks);
  const auto keep = batch.attention_mask.to(torch::kFloat32).unsqueeze(-1);
  std::vector<std::pair<std::string, torch::Tensor>> out{
      {"input_ids", batch.input_ids},
      {"attention_mask", batch.attention_mask},
      {"logits", logits.to(torch::kCPU, torch::kFloat32) * keep},
  };
  for (const auto& [name, activation] : hooks.captured()) {
    out.emplace_back(name.str(), activation.to(torch::kCPU, torch::kFloat32) * keep);
  }
  std::map<std::string, std::string> metadata{{"model", args.model.model_dir},
                                              {"padding", "right; zeros where attention_mask == 0"}};
  if (!args.adapter.empty()) metadata["adapter"] = args.adapter;
  lm::write_safetensors(args.out, out, metadata);
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto args = std::make_shared<ForwardArgs>();
  auto* cmd = app.add_subcommand(
      "forward", "Write logits and residual-stream activations of a batch of token ids (float32 safetensors)");
  add_example_on_default(cmd,
                         "fpokit forward --model examples/demo/model --input-ids runs/tour/ids.json --hook "
                         "blocks.1.hook_resid_post --out runs/tour/forward.safetensors");
  args->model.add_to(*cmd);
  cmd->add_option("--adapter", args->adapter, "PEFT LoRA adapter on top of --model (e.g. <train out>/adapter)")
      ->group("Model");
  cmd->add_option("--input-ids", args->input_ids,
                  "JSON file: a list of token-id lists (right-padded into one batch; padding is masked)")
      ->required()
      ->group("Input");
  // --hook, as in every other command; --hooks was this command's own name for it.
  deprecated_name(cmd->add_option("--hook,--hooks", args->hooks,
                                  "hook name(s), comma-separated or repeated, e.g. blocks.0.hook_resid_post"),
                  "hooks")
      ->delimiter(',')
      ->group("Model");
  cmd->add_option("--out", args->out, "output .safetensors: logits, input_ids, attention_mask and one tensor per hook")
      ->required()
      ->group("Output");
  cmd->callback([args] { run_forward(*args); });
}

}  // namespace fpokit::cli
