// fpokit sae train: trains SAEs on a hook of a model (online) or from an `acts cache` file.
#include <memory>

#include "cli_vocabulary.h"
#include "commands.h"
#include "config_options.h"
#include "dataset_options.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"
#include "fpokit/sae/training/training_run.h"
#include "hub_names.h"
#include "model_options.h"
#include "report_to_option.h"

namespace fpokit::cli {

namespace {

struct SaeTrainArgs {
  // A run killed loses at most its last checkpoint interval: 20M tokens by default (minutes on a GPU).
  SaeTrainArgs() { run.trainer.checkpoint_every_tokens = 20000000; }
  sae::TrainingRunOptions run;
  std::string arch = "topk";
  std::string normalization = "none";
  std::string lr_scheduler = "constant";
  std::string b_dec_init = "geometric_median";
  std::string prefetch = "auto";
  std::string report_to = "none";
  bool autocast = false;
  bool dense_kernels = false;
  bool quiet = false;
  ModelOptions model;
  ConfigOptions config;
};

void add_options(CLI::App& cmd, SaeTrainArgs& a) {
  auto& r = a.run;
  auto& t = r.trainer;
  a.model.add_to(cmd, {.model = "HuggingFace model directory to harvest activations from",
                       .required = false,
                       .device = "cpu, cuda or cuda:N (model and SAEs)"});
  accept_hub_name(
      cmd.add_option(
          "--data", r.data,
          "Text corpus: .jsonl, .jsonl.gz, .json, .parquet, a dataset folder, or plain text (a document per line)"),
      core::HubRepoType::Dataset)
      ->group("Data");
  add_split_option(cmd, r.harvest.split);
  cmd.add_option("--text-field", r.harvest.text_field, "Record field holding the text (JSON, Parquet)")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--acts", r.acts, "Train offline from an `fpokit acts cache` HDF5 file instead of --model/--data")
      ->group("Data");
  cmd.add_option("--hook", r.hooks, "Hook(s), e.g. blocks.6.hook_resid_post; one SAE per hook from the same model pass")
      ->group("Data");
  cmd.add_option("--context-size", r.harvest.context_size,
                 "Tokens per context row (0: min(1024, the model's max_position_embeddings))")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--model-batch-size", r.harvest.batch_sequences, "Context rows per model forward")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--exclude-norm-multiple", r.harvest.exclude_norm_multiple,
                 "Drop tokens whose activation norm exceeds this multiple of the batch median (0: keep all)")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--buffer-tokens", t.buffer_tokens, "Mixing-buffer capacity (tokens)")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--prefetch-buffer", a.prefetch,
                 "auto | true | false: fill the next buffer window (online: run the model) in the background while "
                 "training on this one; the same batches either way, twice the buffer memory (auto: on for CUDA, off "
                 "on the CPU, where both halves already use every core)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "true", "false"}))
      ->group("Data");

  cmd.add_option("--arch", a.arch, "topk | batchtopk | relu | jumprelu | gated")->capture_default_str()->group("SAE");
  cmd.add_option("--width", r.widths, "Latents (d_sae); several values train one SAE each")
      ->capture_default_str()
      ->group("SAE");
  cmd.add_option("--k", r.ks, "Active latents per token (topk, batchtopk); several values train one SAE each")
      ->capture_default_str()
      ->group("SAE");
  cmd.add_option("--normalize-activations", a.normalization,
                 "none | expected_average_only_in | constant_norm_rescale | layer_norm")
      ->capture_default_str()
      ->group("SAE");
  cmd.add_option("--b-dec-init", a.b_dec_init, "geometric_median | mean | zeros")->capture_default_str()->group("SAE");
  cmd.add_option("--jumprelu-bandwidth", r.jumprelu_bandwidth, "Rectangle-kernel width of the JumpReLU STE")
      ->capture_default_str()
      ->group("SAE");
  cmd.add_option("--jumprelu-init-threshold", t.jumprelu_initial_threshold, "Initial JumpReLU threshold")
      ->capture_default_str()
      ->group("SAE");

  cmd.add_option("--tokens", t.total_tokens, "Training tokens")->required()->group("Training");
  cmd.add_option("--batch-tokens", t.batch_tokens, "Tokens per optimizer step")
      ->capture_default_str()
      ->group("Training");
  deprecated_name(cmd.add_option("--learning-rate,--lr", t.lr, "Adam learning rate"), "lr")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--adam-beta1", t.adam_beta1, "Adam beta1")->capture_default_str()->group("Training");
  cmd.add_option("--adam-beta2", t.adam_beta2, "Adam beta2")->capture_default_str()->group("Training");
  deprecated_name(cmd.add_option("--lr-scheduler-type,--lr-scheduler", a.lr_scheduler, "constant | linear | cosine"),
                  "lr-scheduler")
      ->capture_default_str()
      ->group("Training");
  deprecated_name(cmd.add_option("--warmup-steps,--lr-warmup-steps", t.lr_warmup_steps, "Linear warm-up steps"),
                  "lr-warmup-steps")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--lr-decay-steps", t.lr_decay_steps, "Final linear decay to 0 over this many steps")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--max-grad-norm", t.max_grad_norm, "Gradient clipping (0: off)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--l1-coefficient", t.l1_coefficient, "relu, gated: L1 coefficient")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--l1-warmup-steps", t.l1_warmup_steps, "relu, gated: L1 warm-up steps (-1: 5% of the run)")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--l0-coefficient", t.l0_coefficient, "jumprelu: L0 coefficient")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--auxk-coefficient", t.auxk_coefficient, "topk/batchtopk: AuxK coefficient")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--k-aux", t.k_aux, "AuxK latents per token (0: d_in/2)")->capture_default_str()->group("Training");
  cmd.add_option("--dead-tokens", t.dead_tokens, "A latent is dead after this many tokens without firing")
      ->capture_default_str()
      ->group("Training");
  cmd.add_option("--seed", t.seed, "Seed for initialisation and shuffling")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Training");
  cmd.add_flag("--autocast-bf16", a.autocast,
               "bf16 autocast for the SAE's products (CUDA tensor cores; CPU bf16 units: AVX512-BF16/AMX); weights and "
               "Adam state stay float32")
      ->group("Training");
  cmd.add_flag("--dense-kernels", a.dense_kernels, "topk/batchtopk: use the dense path instead of the sparse kernels")
      ->group("Training");

  cmd.add_option("--out,--output-dir", r.out, "Output folder")->required()->group("Output");
  cmd.add_option("--checkpoint-every", t.checkpoint_every_tokens,
                 "Checkpoint every N tokens (0: only with --stop-after-tokens)")
      ->capture_default_str()
      ->group("Output");
  deprecated_name(cmd.add_option("--logging-steps,--log-every", t.log_every_steps, "Log every N steps"), "log-every")
      ->capture_default_str()
      ->group("Output");
  add_report_to(cmd, a.report_to);
  cmd.add_flag("--resume", r.resume, "Continue the run in --out from its newest checkpoint-<step>")
      ->configurable(false)
      ->group("Output");
  cmd.add_flag("--overwrite-output-dir", r.overwrite_output_dir,
               "Start afresh in an --out that holds an earlier run (without it, such an --out is refused)")
      ->configurable(false)
      ->group("Output");
  cmd.add_option("--stop-after-tokens", t.stop_after_tokens,
                 "Stop (with a checkpoint) after N tokens; --resume continues")
      ->configurable(false)
      ->group("Output");
  // Its own --quiet only hides the progress line; `fpokit --quiet sae train` keeps warnings and errors only.
  cmd.add_flag("--quiet", a.quiet, "No progress line (fpokit --quiet before the command: warnings and errors only)")
      ->configurable(false)
      ->group("Output");
  a.config.add_to(cmd);
}

void run_sae_train(SaeTrainArgs& a, const CLI::App& cmd) {
  // Before --dump-config: a configuration that would be refused is not printed as if it were valid.
  a.run.trainer.validate();
  if (a.config.dumped(cmd)) return;
  a.run.model_dir = a.model.model_dir;
  a.run.device = a.model.device;
  a.run.model_dtype = a.model.dtype;
  a.run.architecture = sae::parse_architecture(a.arch);
  a.run.trainer.normalization = sae::parse_normalization(a.normalization);
  a.run.trainer.lr_scheduler = core::parse_lr_scheduler(a.lr_scheduler);
  a.run.trainer.b_dec_init = sae::parse_decoder_bias_init(a.b_dec_init);
  a.run.trainer.autocast_bf16 = a.autocast;
  a.run.trainer.sparse_kernels = !a.dense_kernels;
  if (a.prefetch != "auto") a.run.trainer.prefetch_buffer = a.prefetch == "true";
  a.run.report_to_tensorboard = a.report_to == "tensorboard";
  a.run.progress = !a.quiet;
  // The configuration is saved once the run is known to be valid (run_sae_training validates
  // everything before its first write), so a failed start leaves --out untouched.
  const auto out = a.run.out;
  a.run.before_first_write = [&] { ConfigOptions::save(cmd, out / "config.toml"); };
  const bool finished = sae::run_sae_training(a.run);
  if (!finished) {
    core::log::info("stopped after " + std::to_string(a.run.trainer.stop_after_tokens) + " tokens (checkpoint in " +
                    out.string() + "); continue with --resume");
    return;
  }
  core::log::info("outputs in " + out.string() + ": one SAELens folder per SAE, training_log.jsonl, config.toml");
}

}  // namespace

void add_sae_train_command(CLI::App& sae) {
  auto args = std::make_shared<SaeTrainArgs>();
  auto* cmd = sae.add_subcommand("train", "Train sparse autoencoders on a model's residual stream");
  add_example_on_default(
      cmd,
      "fpokit sae train --model examples/demo/model --data examples/demo/corpus.jsonl --hook blocks.1.hook_resid_post "
      "--context-size 128 --arch topk --width 1024 --k 16 --tokens 131072 --out runs/tour/sae");
  add_options(*cmd, *args);
  cmd->callback([args, cmd] { run_sae_train(*args, *cmd); });
}

}  // namespace fpokit::cli
