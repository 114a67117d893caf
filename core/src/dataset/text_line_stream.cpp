#include "fpokit/core/dataset/text_line_stream.h"

#include <zlib.h>

#include <cstdio>

#include "fpokit/core/errors.h"

namespace fpokit::core {

// zlib's reader; gzclose on destruction.
struct TextLineStream::Gzip {
  gzFile file = nullptr;
  ~Gzip() {
    if (file) gzclose(file);
  }
};

namespace {

bool has_gzip_magic(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  unsigned char magic[2] = {0, 0};
  return f && std::fread(magic, 1, 2, f.get()) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

TextLineStream::TextLineStream(std::filesystem::path path, std::string what)
    : path_(std::move(path)), what_(std::move(what)) {
  const auto cannot_open = [&] {
    return InputError("cannot open " + what_ + " " + path_.string() + ": check the path and its permissions");
  };
  if (std::filesystem::is_directory(path_))
    throw InputError(what_ + " " + path_.string() + " is a folder; give a file in it");
  if (path_.extension() == ".gz") {
    plain_.reset(std::fopen(path_.c_str(), "rb"));
    if (!plain_) throw cannot_open();
    plain_.reset();
    // zlib would read a file without the gzip header as plain text; a ".gz" that is not gzip is
    // more likely a wrong file than a misnamed one.
    if (!has_gzip_magic(path_))
      throw InputError(what_ + " " + path_.string() +
                       " is not gzip-compressed (no gzip header); rename it without .gz if it is plain text");
    gzip_ = std::make_unique<Gzip>();
    gzip_->file = gzopen(path_.c_str(), "rb");
    if (!gzip_->file) throw cannot_open();
    gzbuffer(gzip_->file, 1 << 17);
  } else {
    plain_.reset(std::fopen(path_.c_str(), "rb"));
    if (!plain_) throw cannot_open();
  }
}

TextLineStream::~TextLineStream() = default;

bool TextLineStream::next_line(std::string& line) {
  line.clear();
  char buf[1 << 14];
  bool got_any = false;
  while (true) {
    const char* r = nullptr;
    if (gzip_) {
      r = gzgets(gzip_->file, buf, sizeof buf);
      if (!r) {
        int err = Z_OK;
        const char* msg = gzerror(gzip_->file, &err);
        if (err != Z_OK && err != Z_BUF_ERROR)
          throw InputError(what_ + " " + path_.string() + " is damaged at uncompressed byte " +
                           std::to_string(offset_ + static_cast<int64_t>(line.size())) + " (zlib: " + msg +
                           "); re-download or re-compress it");
        // Z_BUF_ERROR at the end: the stream was cut short.
        if (err == Z_BUF_ERROR)
          throw InputError(what_ + " " + path_.string() + " ends in the middle of its gzip stream (truncated file)" +
                           "; re-download or re-compress it");
      }
    } else {
      r = std::fgets(buf, sizeof buf, plain_.get());
      if (!r && std::ferror(plain_.get()))
        throw InputError("cannot read " + what_ + " " + path_.string() + ": read error");
    }
    if (!r) break;
    got_any = true;
    // fgets/gzgets stop after '\n' or when the buffer is full; the text may contain NUL bytes,
    // which this does not handle (a text dataset has none).
    const size_t n = std::char_traits<char>::length(buf);
    line.append(buf, n);
    if (n > 0 && buf[n - 1] == '\n') break;
  }
  if (!got_any) return false;
  offset_ += static_cast<int64_t>(line.size());
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

void TextLineStream::seek(int64_t offset) {
  const bool ok = gzip_ ? gzseek(gzip_->file, static_cast<z_off_t>(offset), SEEK_SET) == offset
                        : std::fseek(plain_.get(), static_cast<long>(offset), SEEK_SET) == 0;
  if (!ok)
    throw InputError("cannot seek to byte " + std::to_string(offset) + " of " + what_ + " " + path_.string() +
                     ": the file changed since the checkpoint was written");
  offset_ = offset;
}

}  // namespace fpokit::core
