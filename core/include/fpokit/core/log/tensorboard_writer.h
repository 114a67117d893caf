#pragma once
// TensorBoard event files (`--report-to tensorboard`), written without TensorFlow or protobuf:
// a file `events.out.tfevents.<time>.<host>.<pid>.0` of TFRecord frames
//   uint64 length (LE) | uint32 masked CRC-32C of the length | Event bytes | uint32 masked CRC-32C
// (masked: ((crc >> 15) | (crc << 17)) + 0xa282ead8), each an `Event` protobuf (tensorboard's
// event.proto: wall_time = 1, step = 2, file_version = 3, summary = 5, session_log = 7) with, for
// scalars, a `Summary` of `Value {tag = 1, simple_value = 2}`, encoded as protobuf's own
// serialiser encodes them (proto3: a zero step or time is left out; simple_value sits in a oneof
// and is always written). tests/fixtures/generate_tensorboard.py records what tensorboard's own
// RecordWriter and protos write for the same events, byte for byte.
//
// The file begins with file_version "brain.Event:2". A resumed run opens a new file in the same
// folder that begins with SessionLog START at the first step it trains again, which makes
// TensorBoard drop the interrupted run's events from that step on (the steps trained twice).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fpokit::core {

uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);  // TFRecord's: rotated right by 15, plus 0xa282ead8
// One TFRecord frame around `payload`.
std::string tfrecord_frame(const std::string& payload);

// The serialised Event messages fpokit writes.
std::string event_file_version(double wall_time);
std::string event_session_start(double wall_time, int64_t step);
std::string event_scalars(double wall_time, int64_t step, const std::vector<std::pair<std::string, float>>& scalars);

class TensorBoardWriter {
 public:
  // A new event file in `log_dir` (created). resumed_step: the step a resumed run continues after
  // (the SessionLog START goes at resumed_step + 1). InputError when it cannot be written.
  TensorBoardWriter(std::filesystem::path log_dir, std::optional<int64_t> resumed_step);

  // One event with these scalars at `step`, flushed (a crash loses at most the event being written).
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, float>>& scalars);

  const std::filesystem::path& path() const { return path_; }

 private:
  void append(const std::string& event);

  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace fpokit::core
