#include "hub_names.h"

#include <filesystem>

#include "fpokit/core/errors.h"

namespace fpokit::cli {

namespace fs = std::filesystem;

CLI::Option* accept_hub_name(CLI::Option* option, core::HubRepoType type) {
  const bool dataset = type == core::HubRepoType::Dataset;
  option->description(option->get_description() + (dataset ? " (or a cached dataset's file: org/name[@rev]:path)"
                                                           : " (or a cached hub name: org/name[@rev][:path])"));
  const std::string flag = option->get_name();
  return option->transform(CLI::Validator(
      [type, dataset, flag](std::string& value) {
        if (value.empty()) return std::string();  // "not given", as a dumped config writes it
        const auto path = core::resolve_local_or_hub(value, type);
        // The data readers take one file; a dataset repository is a folder of them.
        if (dataset && path.string() != value && fs::is_directory(path)) {
          const auto files = core::folder_entries(path, /*files_below=*/true);
          throw InputError(flag + " " + value + ": a dataset repository is a folder of files; name the file after " +
                           "':', e.g. " + value + ":" + (files.empty() ? "train.jsonl" : files.front()) +
                           " (it holds " + core::list_for_message(files) + ")");
        }
        value = path.string();
        return std::string();
      },
      "", "hub name"));
}

}  // namespace fpokit::cli
