#pragma once
// The preference methods' options, shared by `train` and `eval-prefs` so that a run's settings
// evaluate under the same names: --method, each method's β and loss options (Loss group), FPO's
// (FPO group), and the rule that an option of another method is an error (docs/methods.md,
// 'Options of other methods').
#include <string>

#include <CLI/CLI.hpp>

#include "fpokit/fpo/losses/method.h"
#include "fpokit/fpo/losses/preference_losses.h"

namespace fpokit::cli {

struct MethodOptions {
  std::string method = "dpo";
  std::string fpo_variant = "paper";
  std::string orpo_nll = "sequence";
  std::string sae;
  std::string fpo_hook;

  // --method, in `group`.
  void add_method_option(CLI::App& cmd, const std::string& group);
  // The Loss and FPO groups, bound to `loss` (and to sae/fpo_hook).
  void add_loss_options(CLI::App& cmd, fpo::PreferenceLossOptions& loss);
  // Parses --method, --fpo-variant and --orpo-nll into `loss`; returns the method. ConfigError for
  // an unknown name.
  fpo::Method resolve(fpo::PreferenceLossOptions& loss) const;
};

// An option of one method given with another is an error, never silently ignored: on the command
// line always; from a config file when its value is not the default (a dumped config lists every
// option with its value). Options the command lacks are skipped.
void refuse_options_of_other_methods(const CLI::App& cmd, fpo::Method method);

// Whether the user chose --NAME: given on the command line, or in a config file with a value other
// than its default (a dumped config lists every option with its value).
bool option_chosen(const CLI::App& cmd, const std::string& name);

}  // namespace fpokit::cli
