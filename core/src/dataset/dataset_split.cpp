#include "fpokit/core/dataset/dataset_split.h"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fpokit/core/dataset/concat_record_reader.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/hub_cache.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// Relative paths (generic form) of the data files below `folder`, sorted; hidden files and
// folders (".cache", ".git", ".huggingface") skipped.
std::vector<std::string> data_files_below(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& rel : folder_entries(folder, /*files_below=*/true)) {
    const fs::path p(rel);
    bool hidden = false;
    for (const auto& part : p) hidden = hidden || part.string().starts_with(".");
    if (!hidden && is_record_file(p)) out.push_back(p.generic_string());
  }
  return out;
}

std::string unquote(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r");
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return s;
}

// The split -> path globs of README.md's `configs:` (the "default" config, else the first), from
// the YAML header the Hub writes. A small line reader, not a YAML parser: it knows the shapes the
// Hub and `datasets` write (block lists of {split, path}, path as a string or a list, data_files
// as one string); nullopt when there is no README, header or configs section.
std::optional<std::map<std::string, std::vector<std::string>>> readme_split_globs(const fs::path& folder) {
  std::ifstream in(folder / "README.md");
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line) || unquote(line) != "---") return std::nullopt;
  std::vector<std::string> header;
  while (std::getline(in, line) && unquote(line) != "---") header.push_back(line);
  size_t i = 0;
  while (i < header.size() && header[i].rfind("configs:", 0) != 0) ++i;
  if (i == header.size()) return std::nullopt;

  std::map<std::string, std::map<std::string, std::vector<std::string>>> configs;  // config -> split -> globs
  std::vector<std::string> order;
  std::string config, split;
  bool in_path_list = false;
  for (++i; i < header.size(); ++i) {
    const std::string& raw = header[i];
    if (raw.empty()) continue;
    if (raw[0] != ' ' && raw[0] != '-') break;  // the next top-level key
    std::string text = unquote(raw);
    const bool item = text.rfind("- ", 0) == 0;
    if (item) text = unquote(text.substr(2));
    const auto colon = text.find(':');
    const std::string key = colon == std::string::npos ? "" : text.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : unquote(text.substr(colon + 1));
    if (key == "config_name") {
      config = value;
      if (!configs.count(config)) order.push_back(config);
      configs[config];
      in_path_list = false;
    } else if (key == "split") {
      split = value;
      in_path_list = false;
    } else if (key == "path") {
      in_path_list = value.empty();
      if (!value.empty()) configs[config][split].push_back(value);
    } else if (key == "data_files") {
      split = "train";  // `data_files: GLOB` without splits, or the list that follows
      in_path_list = false;
      if (!value.empty()) configs[config]["train"].push_back(value);
    } else if (item && colon == std::string::npos && in_path_list) {
      configs[config][split].push_back(text);
    } else {
      in_path_list = false;
    }
  }
  if (configs.empty()) return std::nullopt;
  const auto chosen = configs.count("default") ? configs.find("default") : configs.find(order.front());
  return chosen->second;
}

bool glob_matches(const std::string& pattern, const std::string& rel) {
  // "*" stays within a folder, "**" crosses them (fsspec's glob, which datasets uses).
  const bool deep = pattern.find("**") != std::string::npos;
  return fnmatch(pattern.c_str(), rel.c_str(), deep ? 0 : FNM_PATHNAME) == 0;
}

// datasets' NON_WORDS_CHARS: what may separate a split keyword from the rest of a name.
bool is_separator(char c) { return c == '-' || c == '_' || c == '.' || c == ' ' || (c >= '0' && c <= '9'); }

// Whether one name holds a split keyword as datasets' patterns find it (data_files.py, fsspec >=
// 2023.12): a file name "{kw}[sep]*" or "*[sep]{kw}[sep]*"; a folder name also "{kw}" and
// "*[sep]{kw}".
bool name_has_keyword(const std::string& name, const std::string& kw, bool folder) {
  for (size_t pos = name.find(kw); pos != std::string::npos; pos = name.find(kw, pos + 1)) {
    const size_t end = pos + kw.size();
    const bool left = pos == 0 || is_separator(name[pos - 1]);
    const bool right = end < name.size() ? is_separator(name[end]) : folder;
    if (left && right) return true;
  }
  return false;
}

struct SplitKeywords {
  const char* split;
  std::vector<std::string> keywords;
};

// datasets' SPLIT_KEYWORDS, in its DEFAULT_SPLITS order.
const std::vector<SplitKeywords>& split_keywords() {
  static const std::vector<SplitKeywords> table = {{"train", {"train", "training"}},
                                                   {"validation", {"validation", "valid", "dev", "val"}},
                                                   {"test", {"test", "testing", "eval", "evaluation"}}};
  return table;
}

// "data/{split}-NNNNN-of-NNNNN*.*" (datasets' SPLIT_PATTERN_SHARDED, what push_to_hub writes):
// the split, or "" for another path.
std::string sharded_split_of(const std::string& rel) {
  if (rel.rfind("data/", 0) != 0 || rel.find('/', 5) != std::string::npos) return {};
  const std::string base = rel.substr(5);
  for (size_t dash = base.find('-'); dash != std::string::npos; dash = base.find('-', dash + 1)) {
    const auto digits = [&](size_t at) {
      if (at + 5 > base.size()) return false;
      for (size_t i = at; i < at + 5; ++i)
        if (base[i] < '0' || base[i] > '9') return false;
      return true;
    };
    if (dash > 0 && digits(dash + 1) && base.compare(dash + 6, 4, "-of-") == 0 && digits(dash + 10) &&
        base.find('.', dash + 15) != std::string::npos)
      return base.substr(0, dash);
  }
  return {};
}

// Split name -> data files (relative, sorted), as datasets resolves a folder without README
// configs: the sharded layout if any file has it; else split keywords in folder names; else in
// file names; else every file is "train".
std::map<std::string, std::vector<std::string>> splits_by_convention(const std::vector<std::string>& files) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& rel : files)
    if (auto split = sharded_split_of(rel); !split.empty()) out[split].push_back(rel);
  if (!out.empty()) return out;
  for (const bool in_folder : {true, false}) {
    for (const auto& rel : files) {
      const fs::path p(rel);
      for (const auto& [split, keywords] : split_keywords()) {
        bool match = false;
        if (in_folder) {
          for (auto it = p.begin(); !match && it != p.end() && std::next(it) != p.end(); ++it)
            for (const auto& kw : keywords) match = match || name_has_keyword(it->string(), kw, true);
        } else {
          for (const auto& kw : keywords) match = match || name_has_keyword(p.filename().string(), kw, false);
        }
        if (match) out[split].push_back(rel);
      }
    }
    if (!out.empty()) return out;
  }
  out["train"] = files;
  return out;
}

// Split name -> data files (relative), by README configs or by convention.
std::map<std::string, std::vector<std::string>> resolve_splits(const fs::path& folder,
                                                               const std::vector<std::string>& files,
                                                               bool& from_readme) {
  const auto globs = readme_split_globs(folder);
  from_readme = globs.has_value();
  if (!globs) return splits_by_convention(files);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [split, patterns] : *globs) {
    auto& list = out[split];
    for (const auto& rel : files)
      for (const auto& pattern : patterns)
        if (glob_matches(pattern, rel)) {
          list.push_back(rel);
          break;
        }
  }
  return out;
}

}  // namespace

std::vector<std::string> dataset_splits(const fs::path& folder) {
  bool from_readme = false;
  std::vector<std::string> names;
  for (const auto& [name, files] : resolve_splits(folder, data_files_below(folder), from_readme)) names.push_back(name);
  return names;
}

std::vector<fs::path> dataset_split_files(const fs::path& folder, const std::string& split) {
  const auto files = data_files_below(folder);
  if (files.empty())
    throw InputError("dataset folder " + folder.string() +
                     " holds no data files (.jsonl, .jsonl.gz, .json, .parquet); it has: " +
                     list_for_message(folder_entries(folder, true)));
  const std::string wanted = split.empty() ? "train" : split;
  bool from_readme = false;
  const auto splits = resolve_splits(folder, files, from_readme);
  const auto it = splits.find(wanted);
  if (it == splits.end() || it->second.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, list] : splits)
      if (!list.empty()) names.push_back(name);
    throw InputError("dataset folder " + folder.string() + " has no split '" + wanted + "'" +
                     (from_readme ? " (by its README's configs)" : " (by its file names)") + "; it has " +
                     list_for_message(names) + ": choose one with --split" +
                     (split.empty() ? " (without --split, fpokit reads 'train')" : ""));
  }
  // In the order of their relative paths as strings, as datasets reads them ("train-extra.jsonl"
  // before "train.jsonl"; std::filesystem::path would compare folder by folder instead).
  auto rels = it->second;
  std::sort(rels.begin(), rels.end());
  std::vector<fs::path> out;
  for (const auto& rel : rels) out.push_back(folder / rel);
  return out;
}

std::unique_ptr<RecordReader> open_dataset(const fs::path& path, const std::string& split) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return std::make_unique<ConcatRecordReader>(path, dataset_split_files(path, split));
  if (!split.empty())
    throw InputError("--split " + split + " applies to a dataset folder, but " + path.string() +
                     " is a file; give the folder, or drop --split");
  return open_record_reader(path);
}

}  // namespace fpokit::core
