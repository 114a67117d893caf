#pragma once
// Each CLI command lives in tools/commands/<name>.cpp and registers itself on the root app here.
// A command's callback does only option handling and one library call; errors propagate to main,
// which maps fpokit::InputError to exit code 2 and anything else to 1.
#include <string>

#include <CLI/CLI.hpp>

namespace fpokit::cli {

void add_generate_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_acts_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_prefs_command(CLI::App& app);
void add_drift_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_demo_command(CLI::App& app);
// `fpokit help [--markdown]`: the root's help, or docs/cli.md generated from every command's options.
void add_help_command(CLI::App& app);
// docs/cli.md: every command, its options by group, with type, default and description.
std::string markdown_reference(const CLI::App& root);

// Ends `cmd`'s --help (and its section of docs/cli.md) with `example`: one command line that runs
// on the embedded default (examples/demo), copied from README.md's "Every command, on the embedded
// default", whose test (tests/cli/test_readme_commands.cpp) runs it and checks that it is there.
void add_example_on_default(CLI::App* cmd, const std::string& example);
// The example a command was given, "" when none.
std::string example_on_default(const CLI::App& cmd);

// The command line as typed (shell-quoted where needed), for provenance in output files.
const std::string& command_line();
// `fpokit sae train|eval|encode`, each in tools/commands/sae_<name>.cpp.
void add_sae_command(CLI::App& app);
void add_sae_train_command(CLI::App& sae);
void add_sae_eval_command(CLI::App& sae);
void add_sae_encode_command(CLI::App& sae);

}  // namespace fpokit::cli
