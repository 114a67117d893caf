#include "fpokit/core/io/hub_cache.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "fpokit/core/errors.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// A repository-id segment as the Hub accepts it: [A-Za-z0-9._-], at most 96 characters, not
// starting or ending with '-' or '.', no "--" or "..".
bool valid_segment(const std::string& s) {
  if (s.empty() || s.size() > 96) return false;
  if (!std::all_of(s.begin(), s.end(), is_name_char)) return false;
  if (s.front() == '-' || s.front() == '.' || s.back() == '-' || s.back() == '.') return false;
  return s.find("--") == std::string::npos && s.find("..") == std::string::npos;
}

// Revisions and paths in the repository: relative, no empty or ".." component.
bool valid_relative(const std::string& s, bool allow_dots_in_names) {
  if (s.empty() || s.front() == '/' || s.back() == '/') return false;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find('/', start), s.size());
    const auto part = s.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (!allow_dots_in_names && !std::all_of(part.begin(), part.end(), is_name_char)) return false;
    start = end + 1;
  }
  return true;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::vector<std::string> folder_entries(const fs::path& dir, bool files_below) {
  std::vector<std::string> names;
  std::error_code ec;
  if (files_below) {
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (!it->is_directory(ec)) names.push_back(it->path().lexically_relative(dir).string());
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string list_for_message(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 8) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

std::optional<HubName> parse_hub_name(const std::string& text) {
  HubName name;
  std::string repo = text;
  if (const auto colon = repo.find(':'); colon != std::string::npos) {
    name.path_in_repo = repo.substr(colon + 1);
    repo.resize(colon);
    if (!valid_relative(name.path_in_repo, /*allow_dots_in_names=*/true)) return std::nullopt;
  }
  if (const auto at = repo.find('@'); at != std::string::npos) {
    name.revision = repo.substr(at + 1);
    repo.resize(at);
    if (!valid_relative(name.revision, /*allow_dots_in_names=*/false)) return std::nullopt;
  }
  const auto slash = repo.find('/');
  if (slash == std::string::npos) {
    if (!valid_segment(repo)) return std::nullopt;
  } else if (repo.find('/', slash + 1) != std::string::npos || !valid_segment(repo.substr(0, slash)) ||
             !valid_segment(repo.substr(slash + 1))) {
    return std::nullopt;
  }
  name.repo_id = repo;
  return name;
}

HubCacheLocation hub_cache_location() {
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return {v, "HF_HUB_CACHE"};
  if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return {v, "HUGGINGFACE_HUB_CACHE"};
  if (auto v = env("HF_HOME"); !v.empty()) return {fs::path(v) / "hub", "HF_HOME"};
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return {fs::path(v) / "huggingface" / "hub", "XDG_CACHE_HOME"};
  const auto home = env("HOME");
  return {fs::path(home.empty() ? "/" : home) / ".cache" / "huggingface" / "hub", "default"};
}

fs::path resolve_local_or_hub(const std::string& text, HubRepoType type) {
  std::error_code ec;
  if (fs::exists(text, ec)) return text;
  const auto name = parse_hub_name(text);
  if (!name) return text;  // a path that does not exist: its reader says so, in its own words
  const auto cache = hub_cache_location();
  const std::string kind = type == HubRepoType::Model ? "models" : "datasets";
  std::string folder_name = kind + "--" + name->repo_id;
  if (const auto slash = folder_name.find('/'); slash != std::string::npos) folder_name.replace(slash, 1, "--");
  const fs::path folder = cache.path / folder_name;
  const std::string revision = name->revision.empty() ? "main" : name->revision;
  const std::string fetch = "`huggingface-cli download " + name->repo_id +
                            (type == HubRepoType::Dataset ? " --repo-type dataset" : "") +
                            (name->revision.empty() ? "" : " --revision " + name->revision) + "`";
  const std::string cache_note = cache.source == "default" ? "the default cache" : "the cache named by " + cache.source;
  if (!fs::is_directory(folder, ec))
    throw InputError("'" + text + "' is neither a local path nor in the local Hugging Face cache (looked for " +
                     folder.string() + ", " + cache_note + "); fpokit never downloads: fetch it with " + fetch +
                     ", or set HF_HUB_CACHE/HF_HOME to the cache that holds it");

  std::string commit;
  const fs::path ref = folder / "refs" / revision;
  if (fs::is_regular_file(ref, ec)) {
    std::ifstream in(ref);
    std::getline(in, commit);
    while (!commit.empty() && (commit.back() == '\r' || commit.back() == ' ')) commit.pop_back();
    if (!is_commit_hash(commit))
      throw InputError(ref.string() + " should hold a 40-hex commit, not '" + commit + "'; fetch " + name->repo_id +
                       " again with " + fetch);
  } else if (is_commit_hash(revision) && fs::is_directory(folder / "snapshots" / revision, ec)) {
    commit = revision;
  } else {
    throw InputError("'" + text + "': the cached " + name->repo_id + " (" + folder.string() + ") has no revision '" +
                     revision + "' (refs: " + list_for_message(folder_entries(folder / "refs", true)) +
                     "; snapshots: " + list_for_message(folder_entries(folder / "snapshots", false)) +
                     "); give one of those after '@', " + "or fetch it with " + fetch);
  }
  const fs::path snapshot = folder / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec))
    throw InputError("'" + text + "': " + ref.string() + " names commit " + commit +
                     ", whose snapshot folder is missing (an interrupted download?); fetch it again with " + fetch);
  if (name->path_in_repo.empty()) return snapshot;
  const fs::path inside = snapshot / name->path_in_repo;
  if (!fs::exists(inside, ec))
    throw InputError("'" + text + "': " + name->repo_id + " at " + commit.substr(0, 12) + " in the cache has no '" +
                     name->path_in_repo + "' (" + snapshot.string() +
                     " holds: " + list_for_message(folder_entries(snapshot, false)) + "); fetch it with " + fetch +
                     " --include '" + name->path_in_repo + "*'");
  return inside;
}

std::optional<HubName> hub_name_of_path(const fs::path& path) {
  std::vector<std::string> parts;
  for (const auto& part : path.lexically_normal()) parts.push_back(part.string());
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    if (parts[i] != "snapshots" || !is_commit_hash(parts[i + 1])) continue;
    std::string folder = parts[i - 1];
    for (const std::string prefix : {"models--", "datasets--"}) {
      if (folder.rfind(prefix, 0) != 0) continue;
      std::string repo = folder.substr(prefix.size());
      if (const auto sep = repo.find("--"); sep != std::string::npos) repo.replace(sep, 2, "/");
      HubName name{repo, parts[i + 1], ""};
      for (size_t j = i + 2; j < parts.size(); ++j)
        if (!parts[j].empty()) name.path_in_repo += (name.path_in_repo.empty() ? "" : "/") + parts[j];
      return name;
    }
  }
  return std::nullopt;
}

}  // namespace fpokit::core
