#pragma once
// --config FILE.toml and --dump-config for training commands (Marian style): every option can come
// from a TOML file, under the command's section (`[sae.train]`, keys are the long option names
// without dashes, e.g. `batch-tokens = 4096`); flags on the command line override it;
// --dump-config prints the resolved configuration in that form and exits, and training saves the
// same text as <out>/config.toml. A renamed option's old key still reads (cli_vocabulary.h); the
// dump writes the current name. (--config itself lives on the root app, which CLI11 2.1 needs
// to read a config file before checking a subcommand's required options; subcommands fall
// through to it.)
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_vocabulary.h"
#include "fpokit/core/io/atomic_output.h"

namespace fpokit::cli {

// Rewrites the values of the path keys (`model="runs/x"` -> `model="/abs/runs/x"`) of a resolved
// configuration; empty values stay empty.
std::string with_absolute_paths(const std::string& toml);

struct ConfigOptions {
  bool dump = false;

  static void add_config_file_option(CLI::App& root) {
    // Set before the commands are added: they inherit the reader (config_to_str) from the root.
    root.config_formatter(std::make_shared<RecordingConfig>());
    root.set_config("--config", "",
                    "Read a training command's options from a TOML file; command-line flags override it")
        ->type_name("FILE")
        ->group("Config");
    root.fallthrough();
  }
  void add_to(CLI::App& cmd) {
    cmd.add_flag("--dump-config", dump, "Print the resolved configuration as TOML and exit")
        ->configurable(false)
        ->group("Config");
  }
  static std::string resolved(const CLI::App& cmd) {
    std::string section = cmd.get_name();
    for (const CLI::App* p = cmd.get_parent(); p != nullptr && p->get_parent() != nullptr; p = p->get_parent())
      section = p->get_name() + "." + section;
    return "[" + section + "]\n" + cmd.config_to_str(/*default_also=*/true, /*write_description=*/true);
  }
  // Prints the configuration when --dump-config was given; returns whether it did.
  bool dumped(const CLI::App& cmd) const {
    if (!dump) return false;
    std::cout << resolved(cmd);
    return true;
  }
  // <out>/config.toml: the resolved configuration with every path option (model, data, SAE,
  // output, ...) made absolute, so that the file names the same inputs from any working directory
  // (--dump-config prints them as given).
  static void save(const CLI::App& cmd, const std::filesystem::path& path) {
    core::write_text_file_atomically(path, with_absolute_paths(resolved(cmd)));
  }
};

}  // namespace fpokit::cli
