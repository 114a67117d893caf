#include "fpokit/core/log/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "fpokit/core/errors.h"

namespace fpokit::core {

namespace fs = std::filesystem;

namespace {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table.
const std::array<uint32_t, 256>& crc32c_table() {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int b = 0; b < 8; ++b) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Protobuf wire format: a key is (field << 3) | wire type; 0 varint, 1 fixed64, 2 length-delimited,
// 5 fixed32.
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event's fields 1 (wall_time) and 2 (step), left out when zero as proto3 leaves them.
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  if (wall_time != 0) {
    uint64_t bits;
    std::memcpy(&bits, &wall_time, sizeof bits);
    put_key(e, 1, 1);
    put_le(e, bits, 8);
  }
  if (step != 0) {
    put_key(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));
  }
  return e;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto& table = crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& payload) {
  std::string length;
  put_le(length, payload.size(), 8);
  std::string frame = length;
  put_le(frame, masked_crc32c(length.data(), length.size()), 4);
  frame += payload;
  put_le(frame, masked_crc32c(payload.data(), payload.size()), 4);
  return frame;
}

std::string event_file_version(double wall_time) {
  auto e = event_header(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string event_session_start(double wall_time, int64_t step) {
  auto e = event_header(wall_time, step);
  std::string session_log;
  put_key(session_log, 1, 0);  // status
  put_varint(session_log, 1);  // START
  put_bytes(e, 7, session_log);
  return e;
}

std::string event_scalars(double wall_time, int64_t step, const std::vector<std::pair<std::string, float>>& scalars) {
  auto e = event_header(wall_time, step);
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_key(v, 2, 5);  // simple_value: in a oneof, so written even when 0
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    put_le(v, bits, 4);
    put_bytes(summary, 1, v);
  }
  put_bytes(e, 5, summary);
  return e;
}

TensorBoardWriter::TensorBoardWriter(fs::path log_dir, std::optional<int64_t> resumed_step) {
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) throw InputError(log_dir.string() + ": cannot create the TensorBoard folder: " + ec.message());
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  const double start = now_seconds();
  // tensorboardX's and torch's name (TensorBoard needs "tfevents" in it); a second writer in the
  // same second and process gets the next number.
  const std::string stem = "events.out.tfevents." + std::to_string(static_cast<int64_t>(start)) + "." + host + "." +
                           std::to_string(::getpid()) + ".";
  int n = 0;
  while (fs::exists(log_dir / (stem + std::to_string(n)))) ++n;
  path_ = log_dir / (stem + std::to_string(n));
  out_.open(path_, std::ios::binary);
  if (!out_) throw InputError(path_.string() + ": cannot open for writing: " + std::strerror(errno));
  append(event_file_version(start));
  if (resumed_step) append(event_session_start(start, *resumed_step + 1));
}

void TensorBoardWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, float>>& scalars) {
  if (!scalars.empty()) append(event_scalars(now_seconds(), step, scalars));
}

void TensorBoardWriter::append(const std::string& event) {
  errno = 0;
  out_ << tfrecord_frame(event);
  out_.flush();
  if (!out_)
    throw InputError(path_.string() + ": cannot write: " + (errno != 0 ? std::strerror(errno) : "write failed"));
}

}  // namespace fpokit::core
