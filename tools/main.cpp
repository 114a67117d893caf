// fpokit: the command-line entry point. Exit codes: 0 success, 2 usage or input error (one line on
// stderr saying what and where), 1 internal error.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "cli_vocabulary.h"
#include "commands.h"
#include "config_file_check.h"
#include "config_options.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/hdf5_structure_check.h"

namespace {
std::string g_command_line;
}

const std::string& fpokit::cli::command_line() { return g_command_line; }

int main(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.empty() || arg.find_first_of(" \t\n'\"$`\\") != std::string::npos) {
      std::string quoted = "'";
      for (const char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      arg = quoted + "'";
    }
    g_command_line += (i ? " " : "") + arg;
  }
  CLI::App app{"fpokit: interpretable preference alignment of language models", "fpokit"};
  app.set_version_flag("--version", std::string("fpokit ") + FPOKIT_VERSION);
  app.require_subcommand(1);
  fpokit::cli::ConfigOptions::add_config_file_option(app);
  fpokit::cli::add_logging_options(app);
  // Runs after every option (command line and config file) is in, before the command's callback:
  // the level must be set before the command logs anything.
  const std::vector<std::string> args(argv + 1, argv + argc);
  app.parse_complete_callback([&app, &args] {
    fpokit::cli::finish_parse(app, args);
    // An unusable FPOKIT_HDF5_CHECK_SECONDS is refused before any work, not at the first HDF5 file.
    (void)fpokit::core::hdf5::structure_check_time_limit();
  });
  fpokit::cli::add_generate_command(app);
  fpokit::cli::add_tokenize_command(app);
  fpokit::cli::add_forward_command(app);
  fpokit::cli::add_sae_command(app);
  fpokit::cli::add_acts_command(app);
  fpokit::cli::add_train_command(app);
  fpokit::cli::add_eval_prefs_command(app);
  fpokit::cli::add_drift_command(app);
  fpokit::cli::add_report_command(app);
  fpokit::cli::add_demo_command(app);
  fpokit::cli::add_help_command(app);  // last: it documents the commands added before it
  fpokit::cli::require_finite_numbers(app);
  try {
    // An unknown command: CLI11 would say "A subcommand is required" (or print the root help for
    // `fpokit X --help`, exit 0); name it and list the commands instead.
    for (size_t i = 0; i < args.size(); ++i) {
      const auto& arg = args[i];
      if (arg == "--config" || arg == "--log-level") {
        ++i;  // its value
        continue;
      }
      if (arg.empty() || arg[0] == '-') continue;
      std::string commands;
      bool known = false;
      for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        known = known || sub->get_name() == arg;
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known) throw fpokit::InputError("unknown command '" + arg + "' (commands: " + commands + "; fpokit --help)");
      break;
    }
    // CLI11 skips what it does not understand in a config file; check it first (one clear line).
    if (const auto config = fpokit::cli::config_file_argument(args); !config.empty())
      fpokit::cli::check_config_file(app, config);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A usage error: one line (CLI11's own print adds "Run with --help for more information." on a
    // second), naming the command whose --help lists the options; exit code 2 whatever CLI11's is.
    std::string command;
    for (const CLI::App* sub = &app; sub != nullptr;) {
      const auto subs = sub->get_subcommands();
      if (subs.empty()) break;
      sub = subs.front();
      command += " " + sub->get_name();
    }
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::cerr << "fpokit: error: " << message << " (fpokit" << command << " --help lists the options)\n";
    return 2;
  } catch (const fpokit::InputError& e) {
    // One line, whatever a library put into the message (HDF5's system errors embed newlines).
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::cerr << "fpokit: error: " << message << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "fpokit: internal error (LibTorch): " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fpokit: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
