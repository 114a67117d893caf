// fpokit sae: the sparse-autoencoder command group.
#include "commands.h"

namespace fpokit::cli {

void add_sae_command(CLI::App& app) {
  auto* sae = app.add_subcommand("sae", "Sparse autoencoders: train, evaluate, encode");
  sae->require_subcommand(1);
  add_sae_train_command(*sae);
  add_sae_eval_command(*sae);
  add_sae_encode_command(*sae);
}

}  // namespace fpokit::cli
