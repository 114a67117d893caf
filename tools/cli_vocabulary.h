#pragma once
// One CLI vocabulary across commands (docs/cli.md): names follow TRL/transformers where they have
// one (--learning-rate, --logging-steps, --save-steps, --seed, --max-steps, --output-dir). A
// renamed option keeps its old name as a second CLI11 name, so the old flag and the old TOML key
// still bind to the same option; CLI11 does not record which name matched, so main looks at the
// command line and at the config keys read, and prints one note per deprecated name used:
//   fpokit: note: --lr is deprecated, use --learning-rate
// The root app also carries the logging flags (--quiet, --verbose, --log-level) for core::log.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace fpokit::cli {

// Marks `old_name` (a long name without dashes, already one of `option`'s names, after its
// canonical first name) as deprecated. Returns `option` for chaining.
CLI::Option* deprecated_name(CLI::Option* option, const std::string& old_name);
// A TOML reader that records the keys it read ("sae.train.lr"), so that an old key in a config
// file gets the same note as the old flag.
class RecordingConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

// --quiet, --verbose and --log-level on the root app (group "Logging").
void add_logging_options(CLI::App& root);
// After parsing, before any command runs: sets core::log's level from the logging flags, then
// prints a note for each deprecated name used on `args` (the command line) or in the config file.
// A bad --log-level throws InputError (one line, exit 2).
void finish_parse(const CLI::App& root, const std::vector<std::string>& args);

// Whether --long_name was written on the command line (as opposed to coming from --config or its
// default); valid after finish_parse.
bool given_on_command_line(const std::string& long_name);

}  // namespace fpokit::cli
