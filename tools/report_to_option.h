#pragma once
// --report-to, TRL's flag, on the training commands: where the training log goes besides its
// .jsonl. fpokit writes TensorBoard event files (<out>/runs/) and talks to no service, so the
// values are none and tensorboard; any other (wandb, mlflow, ...) is refused, not ignored.
#include <string>

#include <CLI/CLI.hpp>

namespace fpokit::cli {

inline CLI::Option* add_report_to(CLI::App& cmd, std::string& value) {
  return cmd
      .add_option("--report-to", value,
                  "none | tensorboard: also write the log as TensorBoard scalars in <out>/runs/ (tensorboard "
                  "--logdir <out>/runs)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "tensorboard"}))
      ->group("Output");
}

}  // namespace fpokit::cli
