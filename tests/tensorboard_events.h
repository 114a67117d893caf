#pragma once
// A reader of TensorBoard event files for the tests: checks every TFRecord frame's two masked
// CRC-32Cs and decodes the Event fields fpokit writes (wall_time, step, file_version, scalar
// summaries, session_log status); other fields are skipped by wire type, as protobuf skips them.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fpokit/core/log/tensorboard_writer.h"
#include "test_support.h"

namespace fpokit::test {

struct TensorBoardEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  int session_log_status = -1;  // -1: no session_log
  std::vector<std::pair<std::string, float>> scalars;
};

namespace tensorboard_detail {

struct Cursor {
  const std::string& bytes;
  size_t pos = 0;
  size_t end = 0;
  bool done() const { return pos >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) throw std::runtime_error("protobuf: varint runs past the message");
      const auto b = static_cast<unsigned char>(bytes[pos++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("protobuf: varint too long");
  }
  uint64_t fixed(int n) {
    if (pos + n > end) throw std::runtime_error("protobuf: fixed field runs past the message");
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[pos + i])) << (8 * i);
    pos += n;
    return v;
  }
  Cursor sub() {
    const auto n = varint();
    if (pos + n > end) throw std::runtime_error("protobuf: length runs past the message");
    Cursor c{bytes, pos, pos + n};
    pos += n;
    return c;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: fixed(8); break;
      case 2: sub(); break;
      case 5: fixed(4); break;
      default: throw std::runtime_error("protobuf: wire type " + std::to_string(wire_type));
    }
  }
};

inline uint32_t masked(const std::string& bytes, size_t pos, size_t n) {
  return core::masked_crc32c(bytes.data() + pos, n);
}

}  // namespace tensorboard_detail

inline std::vector<TensorBoardEvent> read_tensorboard_events(const std::filesystem::path& file) {
  using tensorboard_detail::Cursor;
  const std::string bytes = read_bytes(file);
  std::vector<TensorBoardEvent> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    Cursor header{bytes, pos, bytes.size()};
    if (pos + 12 > bytes.size()) throw std::runtime_error(file.string() + ": a torn frame header");
    const auto length = header.fixed(8);
    if (static_cast<uint32_t>(header.fixed(4)) != tensorboard_detail::masked(bytes, pos, 8))
      throw std::runtime_error(file.string() + ": bad length CRC");
    const size_t data = pos + 12;
    if (data + length + 4 > bytes.size()) throw std::runtime_error(file.string() + ": a torn frame");
    Cursor trailer{bytes, data + length, bytes.size()};
    if (static_cast<uint32_t>(trailer.fixed(4)) != tensorboard_detail::masked(bytes, data, length))
      throw std::runtime_error(file.string() + ": bad data CRC");
    TensorBoardEvent e;
    Cursor c{bytes, data, data + length};
    while (!c.done()) {
      const auto key = c.varint();
      const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
      if (field == 1 && wire == 1) {
        const uint64_t bits = c.fixed(8);
        std::memcpy(&e.wall_time, &bits, 8);
      } else if (field == 2 && wire == 0) {
        e.step = static_cast<int64_t>(c.varint());
      } else if (field == 3 && wire == 2) {
        auto s = c.sub();
        e.file_version = bytes.substr(s.pos, s.end - s.pos);
      } else if (field == 5 && wire == 2) {
        auto summary = c.sub();
        while (!summary.done()) {
          const auto k = summary.varint();
          if ((k >> 3) != 1 || (k & 7) != 2) {
            summary.skip(static_cast<int>(k & 7));
            continue;
          }
          auto value = summary.sub();
          std::pair<std::string, float> scalar;
          while (!value.done()) {
            const auto vk = value.varint();
            if ((vk >> 3) == 1 && (vk & 7) == 2) {
              auto s = value.sub();
              scalar.first = bytes.substr(s.pos, s.end - s.pos);
            } else if ((vk >> 3) == 2 && (vk & 7) == 5) {
              const auto bits = static_cast<uint32_t>(value.fixed(4));
              std::memcpy(&scalar.second, &bits, 4);
            } else {
              value.skip(static_cast<int>(vk & 7));
            }
          }
          e.scalars.push_back(scalar);
        }
      } else if (field == 7 && wire == 2) {
        auto log = c.sub();
        e.session_log_status = 0;
        while (!log.done()) {
          const auto k = log.varint();
          if ((k >> 3) == 1 && (k & 7) == 0) {
            e.session_log_status = static_cast<int>(log.varint());
          } else {
            log.skip(static_cast<int>(k & 7));
          }
        }
      } else {
        c.skip(wire);
      }
    }
    events.push_back(std::move(e));
    pos = data + length + 4;
  }
  return events;
}

}  // namespace fpokit::test
