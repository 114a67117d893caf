#include "cli_vocabulary.h"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <utility>

#include "config_file_check.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"

namespace fpokit::cli {

namespace {

struct DeprecatedName {
  const CLI::Option* option;
  std::string old_name;
};

// Process-wide: options live as long as the root app, which lives for the whole of main.
std::vector<DeprecatedName>& registry() {
  static std::vector<DeprecatedName> names;
  return names;
}
std::set<std::string>& config_keys_read() {
  static std::set<std::string> keys;
  return keys;
}

struct LoggingFlags {
  bool quiet = false;
  bool verbose = false;
  std::string level;
};
LoggingFlags& logging_flags() {
  static LoggingFlags flags;
  return flags;
}

// "sae.train" for `fpokit sae train`: the TOML section of a command, as ConfigOptions writes it.
std::string section_of(const CLI::App& cmd) {
  std::string section = cmd.get_name();
  for (const CLI::App* p = cmd.get_parent(); p != nullptr && p->get_parent() != nullptr; p = p->get_parent())
    section = p->get_name() + "." + section;
  return section;
}

// The command that owns `option` (CLI11 2.1 options do not know their app).
const CLI::App* owner_of(const CLI::App& app, const CLI::Option* option) {
  const auto options = app.get_options();
  if (std::find(options.begin(), options.end(), option) != options.end()) return &app;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (const auto* owner = owner_of(*sub, option)) return owner;
  return nullptr;
}

bool named_on_command_line(const std::vector<std::string>& args, const std::string& long_name) {
  const std::string flag = "--" + long_name;
  for (const auto& arg : args) {
    if (arg == "--") break;  // the rest are positional values
    if (arg == flag || arg.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

void set_log_level() {
  const auto& flags = logging_flags();
  auto level = core::log::Level::Info;
  if (flags.quiet) level = core::log::Level::Warning;
  if (flags.verbose) level = core::log::Level::Debug;
  if (!flags.level.empty()) {
    try {
      level = core::log::parse_level(flags.level);
    } catch (const InputError& e) {
      throw InputError(std::string("--log-level: ") + e.what());
    }
  }
  core::log::set_level(level);
}

}  // namespace

CLI::Option* deprecated_name(CLI::Option* option, const std::string& old_name) {
  const auto& names = option->get_lnames();
  if (std::find(names.begin(), names.end(), old_name) == names.end() || names.front() == old_name)
    throw std::logic_error("--" + old_name + " must be a later name of " + option->get_name());
  registry().push_back({option, old_name});
  // CLI11's help lists every name; say which one is on its way out.
  option->description(option->get_description() + " (--" + old_name + " is deprecated)");
  return option;
}

std::vector<CLI::ConfigItem> RecordingConfig::from_config(std::istream& input) const {
  std::stringstream cleaned(strip_config_comments(std::string(std::istreambuf_iterator<char>(input), {})));
  auto items = CLI::ConfigTOML::from_config(cleaned);
  for (const auto& item : items)
    if (item.name != "++" && item.name != "--") config_keys_read().insert(item.fullname());  // not section markers
  return items;
}

void add_logging_options(CLI::App& root) {
  auto& flags = logging_flags();
  auto* quiet = root.add_flag("--quiet", flags.quiet, "Warnings and errors only (no info lines, no progress lines)")
                    ->configurable(false)
                    ->group("Logging");
  auto* verbose =
      root.add_flag("--verbose", flags.verbose, "Debug messages too")->configurable(false)->group("Logging");
  auto* level = root.add_option("--log-level", flags.level, "error | warning | info | debug (default: info)")
                    ->configurable(false)
                    ->group("Logging");
  quiet->excludes(verbose)->excludes(level);
  verbose->excludes(level);
}

std::vector<std::string>& parsed_args() {
  static std::vector<std::string> args;
  return args;
}

bool given_on_command_line(const std::string& long_name) { return named_on_command_line(parsed_args(), long_name); }

void finish_parse(const CLI::App& root, const std::vector<std::string>& args) {
  parsed_args() = args;
  set_log_level();
  for (const auto& [option, old_name] : registry()) {
    const CLI::App* cmd = owner_of(root, option);
    if (cmd == nullptr || !cmd->parsed() || option->count() == 0) continue;
    const std::string section = section_of(*cmd) + ".";
    const bool old_key = config_keys_read().count(section + old_name) > 0;
    const std::string& name = option->get_single_name();
    if (old_key && config_keys_read().count(section + name) > 0)
      throw InputError("config file: [" + section_of(*cmd) + "] sets both " + name + " and " + old_name +
                       " (its deprecated name); keep " + name);
    if (!old_key && !named_on_command_line(args, old_name)) continue;
    if (core::log::enabled(core::log::Level::Warning))
      std::cerr << "fpokit: note: --" << old_name << " is deprecated, use --" << name << "\n";
  }
}

}  // namespace fpokit::cli
