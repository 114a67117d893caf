#pragma once
// Hugging Face Hub names resolved in the local hub cache, offline, as transformers and
// huggingface_hub do with HF_HUB_OFFLINE=1 — never a network access.
//
//   NAME     = a local path (used as it is when it exists: a local folder wins, as in transformers)
//            | REPO[@REVISION][:PATH]
//   REPO     = org/name, or a legacy name without org ("gpt2")
//   REVISION = a branch or tag (resolved through refs/<revision>) or a 40-hex commit; default main
//   PATH     = a folder or file inside the repository (SAE repositories: layer_12/width_16k/...)
//
// The cache is HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else
// XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; a repository lives in
// <cache>/<type>s--org--name/snapshots/<commit>/ (huggingface_hub's layout; files are symlinks
// into blobs/).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fpokit::core {

enum class HubRepoType { Model, Dataset };

struct HubName {
  std::string repo_id;       // "org/name"
  std::string revision;      // "" when not given (main)
  std::string path_in_repo;  // "" for the repository's root
};

// The NAME grammar above, without looking at the disk; nullopt when `text` cannot be a hub name
// (an absolute or ./ path, more than one '/' before any ':' or '@', characters the Hub refuses).
std::optional<HubName> parse_hub_name(const std::string& text);

// The cache folder in use (from the environment, as above), and where it came from.
struct HubCacheLocation {
  std::filesystem::path path;
  std::string source;  // "HF_HUB_CACHE", "HF_HOME", ..., or "default"
};
HubCacheLocation hub_cache_location();

// `text` as a local path: itself when it exists or cannot be a hub name (an absolute or ./ path:
// the reader reports it missing); else the hub name resolved in the cache. Throws InputError for a
// hub name the cache lacks: the line says where fpokit looked and the `huggingface-cli download`
// command that would fetch it (a revision or path that the cached repository lacks is named, with
// the revisions or the snapshot it has).
std::filesystem::path resolve_local_or_hub(const std::string& text, HubRepoType type);

// What a folder holds, for messages: its entries, or (files_below) the files anywhere below it as
// relative paths; sorted; empty when it cannot be read. list_for_message joins the first 8.
std::vector<std::string> folder_entries(const std::filesystem::path& dir, bool files_below);
std::string list_for_message(const std::vector<std::string>& names);

// The inverse, for names in reports and configs: a path in a cache snapshot
// (.../models--org--name/snapshots/<commit>[/path]) as {org/name, commit, path}; nullopt for any
// other path. (A snapshot folder's own name is a commit hash, no name for a model.)
std::optional<HubName> hub_name_of_path(const std::filesystem::path& path);

}  // namespace fpokit::core
