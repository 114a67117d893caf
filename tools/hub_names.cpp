#include "hub_names.h"

#include "fpokit/core/errors.h"

namespace fpokit::cli {

CLI::Option* accept_hub_name(CLI::Option* option, core::HubRepoType type) {
  const bool dataset = type == core::HubRepoType::Dataset;
  option->description(option->get_description() + (dataset ? " (or a cached dataset: org/name[@rev][:path])"
                                                           : " (or a cached hub name: org/name[@rev][:path])"));
  return option->transform(CLI::Validator(
      [type](std::string& value) {
        if (value.empty()) return std::string();  // "not given", as a dumped config writes it
        // A dataset repository resolves to its snapshot folder, read by split (--split).
        const auto path = core::resolve_local_or_hub(value, type);
        value = path.string();
        return std::string();
      },
      "", "hub name"));
}

}  // namespace fpokit::cli
