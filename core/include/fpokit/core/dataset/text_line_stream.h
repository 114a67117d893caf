#pragma once
// Lines of a text file, plain or gzip-compressed (by its ".gz" extension), with the byte offset of
// each line in the uncompressed text, so that a reader can seek back to a line it has seen.
// Gzip is read through zlib as a stream; seeking back in it re-reads from the start of the file
// (zlib's gzseek), which only a --resume does, once.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace fpokit::core {

class TextLineStream {
 public:
  // Throws InputError when the file cannot be opened, or has a ".gz" extension but is not gzip.
  // `what` names the file's role in messages ("dataset", "preference data").
  explicit TextLineStream(std::filesystem::path path, std::string what = "dataset");
  ~TextLineStream();
  TextLineStream(const TextLineStream&) = delete;
  TextLineStream& operator=(const TextLineStream&) = delete;

  // The next line without its "\n" (and without a trailing "\r"); false at the end. Throws
  // InputError for a damaged gzip stream (naming the file and the line it reached).
  bool next_line(std::string& line);
  // Continue at the uncompressed byte offset of a line (0, or an offset() seen before).
  void seek(int64_t offset);
  // The uncompressed byte offset of the next unread line.
  int64_t offset() const { return offset_; }
  bool compressed() const { return gzip_ != nullptr; }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Gzip;
  std::filesystem::path path_;
  std::string what_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> plain_{nullptr, &std::fclose};
  std::unique_ptr<Gzip> gzip_;
  int64_t offset_ = 0;
};

}  // namespace fpokit::core
