// TensorBoard event files (core/log/tensorboard_writer.h) against what tensorboard itself writes
// and reads (tests/fixtures/generate_tensorboard.py), and MetricsLog's TensorBoard side.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "fpokit/core/log/tensorboard_writer.h"
#include "fpokit/core/train/metrics_log.h"
#include "tensorboard_events.h"
#include "test_support.h"

using namespace fpokit;
namespace fs = std::filesystem;

namespace {

const double kT0 = 1765000000.25;
const float kInf = std::numeric_limits<float>::infinity();

fs::path only_event_file(const fs::path& dir, size_t expected_files = 1) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == expected_files);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) CHECK(f.filename().string().rfind("events.out.tfevents.", 0) == 0);
  return files.back();
}

}  // namespace

TEST_CASE("CRC-32C is Castagnoli's (check value of \"123456789\")", "[core][tensorboard]") {
  CHECK(core::crc32c("123456789", 9) == 0xE3069283u);
  CHECK(core::crc32c("", 0) == 0u);
}

TEST_CASE("fpokit's events are byte for byte what tensorboard's protos and RecordWriter write", "[core][tensorboard]") {
  std::string ours;
  ours += core::tfrecord_frame(core::event_file_version(kT0));
  ours += core::tfrecord_frame(
      core::event_scalars(kT0 + 1.5, 0, {{"loss", static_cast<float>(0.6931471805599453)}, {"rewards/margins", 0.0f}}));
  ours += core::tfrecord_frame(core::event_scalars(kT0 + 2.75, 12,
                                                   {{"lr", 3e-4f},
                                                    {"saes/blocks.6.hook_resid_post/l0", 31.75f},
                                                    {"saes/blocks.6.hook_resid_post/fvu", -1.25e-7f},
                                                    {"grad_norm", kInf}}));
  ours += core::tfrecord_frame(core::event_session_start(kT0 + 60, 9));
  ours += core::tfrecord_frame(core::event_scalars(kT0 + 61, 300000, {{"tokens_per_s", 123456.5f}}));
  const auto theirs = test::read_bytes(test::fixture("tensorboard/events.out.tfevents.fixture"));
  CHECK(ours.size() == theirs.size());
  CHECK(ours == theirs);
}

TEST_CASE("the test reader reads tensorboard's file as tensorboard's EventFileLoader does", "[core][tensorboard]") {
  const auto events = test::read_tensorboard_events(test::fixture("tensorboard/events.out.tfevents.fixture"));
  const auto expected = nlohmann::json::parse(test::read_bytes(test::fixture("tensorboard/events.json")))["events"];
  REQUIRE(events.size() == expected.size());
  for (size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i);
    const auto& e = expected[i];
    CHECK(events[i].wall_time == e["wall_time"].get<double>());
    CHECK(events[i].step == e["step"].get<int64_t>());
    CHECK(events[i].file_version == e.value("file_version", ""));
    CHECK(events[i].session_log_status == e.value("session_log_status", -1));
    const auto scalars = e.value("scalars", nlohmann::json::array());
    REQUIRE(events[i].scalars.size() == scalars.size());
    for (size_t j = 0; j < scalars.size(); ++j) {
      CHECK(events[i].scalars[j].first == scalars[j][0].get<std::string>());
      if (scalars[j][1].is_string()) {
        CHECK(std::isinf(events[i].scalars[j].second));
      } else {
        CHECK(events[i].scalars[j].second == static_cast<float>(scalars[j][1].get<double>()));
      }
    }
  }
  // A flipped byte is caught by the frame's CRC.
  test::TempDir tmp;
  auto bytes = test::read_bytes(test::fixture("tensorboard/events.out.tfevents.fixture"));
  bytes[40] ^= 1;
  test::write_bytes(tmp / "events.out.tfevents.bad", bytes);
  CHECK_THROWS_WITH(test::read_tensorboard_events(tmp / "events.out.tfevents.bad"), Catch::Contains("CRC"));
}

TEST_CASE("MetricsLog --report-to tensorboard: the log's numbers at their steps, resumes purged",
          "[core][tensorboard]") {
  test::TempDir tmp;
  const auto runs = tmp / "runs";
  const nlohmann::json line1 = {{"step", 1},
                                {"loss", 0.5},
                                {"lr", 1e-3},
                                {"note", "text is not a scalar"},
                                {"saes",
                                 {{{"sae", "blocks.0.hook_resid_post"}, {"l0", 12.5}, {"hook", "x"}},
                                  {{"sae", "blocks.1.hook_resid_post"}, {"l0", 7.0}}}},
                                {"rewards", {{"chosen", -0.25}, {"margins", 1.5}}}};
  const nlohmann::json line2 = {{"step", 2}, {"loss", 0.25}};
  {
    core::MetricsLog log(tmp / "metrics.jsonl", std::nullopt, runs);
    log.write(line1);
    log.write({{"summary", "a line without a step is not an event"}, {"train_runtime", 3.5}});
    log.write(line2);
  }
  auto events = test::read_tensorboard_events(only_event_file(runs));
  REQUIRE(events.size() == 3);
  CHECK(events[0].file_version == "brain.Event:2");
  CHECK(events[1].step == 1);
  using Scalars = std::vector<std::pair<std::string, float>>;
  CHECK(events[1].scalars == Scalars{{"loss", 0.5f},
                                     {"lr", 1e-3f},
                                     {"rewards/chosen", -0.25f},
                                     {"rewards/margins", 1.5f},
                                     {"saes/blocks.0.hook_resid_post/l0", 12.5f},
                                     {"saes/blocks.1.hook_resid_post/l0", 7.0f}});
  CHECK(events[2].step == 2);
  CHECK(events[2].scalars == Scalars{{"loss", 0.25f}});
  // Beyond float32's range a value is ±inf, not a wrapped or undefined cast.
  CHECK(core::MetricsLog::scalars_of({{"step", 3}, {"big", 1e300}, {"small", -1e300}, {"list", {2.5}}}) ==
        Scalars{{"big", kInf}, {"list/0", 2.5f}, {"small", -kInf}});
  CHECK(events[1].wall_time >= events[0].wall_time);

  // A resumed run adds a file that starts TensorBoard's purge at the first step trained again.
  {
    core::MetricsLog log(tmp / "metrics.jsonl", int64_t{1}, runs);
    log.write(line2);
  }
  const auto resumed = test::read_tensorboard_events(only_event_file(runs, 2));
  REQUIRE(resumed.size() == 3);
  CHECK(resumed[1].session_log_status == 1);  // START
  CHECK(resumed[1].step == 2);
  CHECK(resumed[2].scalars == Scalars{{"loss", 0.25f}});

  // A fresh start clears the folder: an earlier run's events are not this run's.
  { core::MetricsLog log(tmp / "metrics.jsonl", std::nullopt, runs); }
  CHECK(test::read_tensorboard_events(only_event_file(runs)).size() == 1);
}
