#pragma once
// Checks a --config TOML file against the command tree before CLI11 reads it. CLI11 ignores what
// it does not understand (an unknown key such as `max_stepz`, an unknown [section], a line that is
// not TOML), which would train with a default the user thought they had changed; this makes each
// of them an InputError naming the file, the line and the key, with the nearest valid key:
//   run.toml:3: [train] has no option 'max_stepz' (did you mean 'max-steps'?)
// It also checks each value against its option's type (a whole number, a number, true/false) and
// refuses keys that cannot come from a file (--dump-config, --resume, ...).
//
// The TOML subset fpokit's config files use: [section] or [command.subcommand] headers, and
// `key = value` lines with a string ("..." or '...'), a number, true/false, or a one-line array
// of those; comments start with #. Anything else is refused with its line.
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace fpokit::cli {

// The --config file named in `args` (the command line without the program name), if any.
std::string config_file_argument(const std::vector<std::string>& args);

// Throws InputError for the first problem in `file` (see above). `root` is the fully built app.
void check_config_file(const CLI::App& root, const std::filesystem::path& file);

// `text` with each line's comment (a # outside quotes) removed: what RecordingConfig hands to
// CLI11, whose reader would take `[train]  # note` for a key and cut "a#b" at the #.
std::string strip_config_comments(const std::string& text);

// Adds to every option that takes a floating-point number (type FLOAT), in `app` and its
// subcommands, a check that refuses NaN and infinities: a non-finite learning rate or β is a
// usage error before any work, not a run that trains on NaN.
void require_finite_numbers(CLI::App& app);

}  // namespace fpokit::cli
