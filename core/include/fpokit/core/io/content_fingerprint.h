#pragma once
// What a cache key records of a file or folder: its content, so that replacing files in place
// (retraining an SAE into the same folder, a new tokenizer.json) invalidates the cache, and moving
// or renaming the folder does not. Per regular file, by path relative to the folder:
//   files up to kFullHashBytes (configs, tokenizers, data, SAEs, small models): size and SHA-256
//   of every byte;
//   larger files (multi-GB weights, where hashing every byte would cost a minute per run): size,
//   modification time (ns) and the SHA-256 of the first and last MiB: a rewrite changes the
//   modification time, and a different checkpoint almost surely differs in its first MiB (the
//   safetensors header names every tensor with its offsets).
// A missing path is recorded as {"missing": true} (the caller decides whether that is an error).
#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace fpokit::core {

inline constexpr uint64_t kFullHashBytes = 256ull << 20;

// A file: {"size", "sha256"} or {"size", "mtime_ns", "head_tail_sha256"}. A folder: an object
// mapping each regular file's relative path (generic form, sorted; recursive unless `recursive` is
// false; names starting with '.' skipped) to its file record. Throws InputError when a file cannot
// be read.
nlohmann::json content_fingerprint(const std::filesystem::path& path, bool recursive = true);

}  // namespace fpokit::core
