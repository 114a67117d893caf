// Training data plumbing: text datasets, context packing, the mixing buffer.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/data/mixing_buffer.h"
#include "fpokit/sae/data/text_dataset.h"
#include "sae_test_util.h"
#include "synthetic_source.h"

using namespace fpokit::sae;
using fpokit::test::PlantedDictionarySource;
using fpokit::test::TempDir;

namespace {

void write_file(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

}  // namespace

TEST_CASE("TextDataset reads JSONL and plain text and seeks back exactly", "[sae][data]") {
  TempDir dir;
  write_file(
      dir / "d.jsonl",
      "{\"text\": \"first doc\"}\n\n{\"text\": \"\"}\n{\"text\": \"second\", \"x\": 1}\r\n{\"text\": \"third\"}");
  TextDataset ds(dir / "d.jsonl");
  const auto a = ds.next();
  const auto b = ds.next();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->text == "first doc");
  CHECK(b->text == "second");
  CHECK(b->line == 4);
  const auto c = ds.next();
  REQUIRE(c);
  CHECK(c->text == "third");
  CHECK_FALSE(ds.next());
  ds.seek(b->offset, b->line - 1);
  CHECK(ds.next()->text == "second");

  write_file(dir / "d.txt", "one line\n\ntwo line\n");
  TextDataset txt(dir / "d.txt");
  CHECK(txt.next()->text == "one line");
  CHECK(txt.next()->text == "two line");
  CHECK_FALSE(txt.next());

  write_file(dir / "bad.jsonl", "{\"text\": \"ok\"}\n{\"content\": \"no text\"}\n");
  TextDataset bad(dir / "bad.jsonl");
  bad.next();
  try {
    bad.next();
    FAIL("no error for a line without the text field");
  } catch (const fpokit::InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad.jsonl:2") && Catch::Contains("--text-field"));
  }
  CHECK_THROWS_AS(TextDataset(dir / "missing.jsonl"), fpokit::InputError);
}

TEST_CASE("ContextPacker rows start with the separator and resume mid-document", "[sae][data]") {
  TempDir dir;
  std::string corpus;
  for (int i = 0; i < 20; ++i)
    corpus += "{\"text\": \"The quick brown fox " + std::to_string(i) + " jumps over the lazy dog.\"}\n";
  write_file(dir / "c.jsonl", corpus);
  const auto tok = fpokit::lm::Tokenizer::from_directory(fpokit::test::fixture("tokenizers/gpt2"));
  TextDataset ds(dir / "c.jsonl");
  ContextPacker packer(ds, *tok, 7);
  std::vector<std::vector<int64_t>> rows;
  std::vector<ContextPacker::Position> starts;
  while (true) {
    starts.push_back(packer.position());
    auto r = packer.next_row();
    if (!r) break;
    rows.push_back(*r);
  }
  REQUIRE(rows.size() > 10);
  for (const auto& r : rows) {
    CHECK(r.size() == 7);
    CHECK(r.front() == packer.separator_id());
  }
  // The stream of non-initial tokens is the documents joined by the separator.
  std::vector<int64_t> stream;
  for (const auto& r : rows) stream.insert(stream.end(), r.begin() + 1, r.end());
  std::vector<int64_t> expected;
  TextDataset again(dir / "c.jsonl");
  while (auto d = again.next()) {
    const auto ids = tok->encode(d->text, false);
    expected.insert(expected.end(), ids.begin(), ids.end());
    expected.push_back(packer.separator_id());
  }
  expected.resize(stream.size());
  CHECK(stream == expected);
  // Seeking to any recorded position reproduces the rows from there on.
  for (size_t i : {size_t{1}, size_t{5}, rows.size() - 1}) {
    TextDataset ds2(dir / "c.jsonl");
    ContextPacker p2(ds2, *tok, 7);
    p2.seek(starts[i]);
    CHECK(*p2.next_row() == rows[i]);
  }
}

TEST_CASE("MixingBuffer serves a permutation of the source and restores exactly", "[sae][data]") {
  PlantedDictionarySource source(4, 8, 2, 1000, 64);
  MixingBuffer buffer(source, 300, 7, /*loop=*/false);
  std::vector<int64_t> seen;
  std::vector<nlohmann::json> states;
  std::vector<torch::Tensor> batches;
  while (true) {
    states.push_back(buffer.state());
    auto b = buffer.next_batch(90);
    if (!b) break;
    batches.push_back(b->positions.clone());
    for (int64_t i = 0; i < b->size(); ++i) seen.push_back(b->positions[i].item<int64_t>());
  }
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted == all);  // every row exactly once
  CHECK(seen != all);    // and shuffled
  CHECK(batches.back().size(0) == 1000 % 90);
  // Restoring any state gives the same following batch.
  for (size_t i : {size_t{0}, size_t{3}, size_t{7}}) {
    PlantedDictionarySource s2(4, 8, 2, 1000, 64);
    MixingBuffer b2(s2, 300, 7, false);
    b2.restore(states[i]);
    CHECK(torch::equal(b2.next_batch(90)->positions, batches[i]));
  }
  // Looping: a new epoch with another permutation.
  PlantedDictionarySource s3(4, 8, 2, 100, 64);
  MixingBuffer looping(s3, 1000, 7, true);
  const auto e0 = looping.next_batch(100)->positions.clone();
  const auto e1 = looping.next_batch(100)->positions.clone();
  CHECK(looping.epoch() == 1);
  CHECK(std::get<0>(e0.sort()).equal(std::get<0>(e1.sort())));
  CHECK_FALSE(e0.equal(e1));
  // An empty source is an input error.
  PlantedDictionarySource empty(4, 8, 2, 0, 64);
  MixingBuffer b4(empty, 100, 1, true);
  CHECK_THROWS_AS(b4.next_batch(10), fpokit::InputError);
}

namespace {

// The planted source, failing with a CheckpointError at block `fail_at` (a damaged file read in
// the background) and noting the thread of every read.
class RecordingSource : public PlantedDictionarySource {
 public:
  RecordingSource(int64_t total_rows, int64_t fail_at = -1)
      : PlantedDictionarySource(4, 8, 2, total_rows, 64), fail_at_(fail_at) {}
  std::optional<ActivationRows> next() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.insert(std::this_thread::get_id());
      if (blocks_++ == fail_at_) throw fpokit::CheckpointError("block " + std::to_string(fail_at_) + " is damaged");
    }
    return PlantedDictionarySource::next();
  }
  void seek(const nlohmann::json& p) override {
    PlantedDictionarySource::seek(p);
    blocks_ = p.at("block").get<int64_t>();
  }
  void rewind() override {
    PlantedDictionarySource::rewind();
    blocks_ = 0;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
  }

 private:
  int64_t fail_at_;
  int64_t blocks_ = 0;
  std::mutex mutex_;
  std::set<std::thread::id> threads_;
};

std::vector<torch::Tensor> drain(MixingBuffer& buffer, int64_t rows, int64_t batches,
                                 std::vector<nlohmann::json>* states = nullptr) {
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < batches; ++i) {
    if (states) states->push_back(buffer.state());
    auto b = buffer.next_batch(rows);
    if (!b) break;
    out.push_back(b->positions.clone());
  }
  return out;
}

}  // namespace

TEST_CASE("MixingBuffer prefetching in the background serves the very same batches", "[sae][data]") {
  // 1000 rows in windows of 300 over three epochs: every window boundary, the short last window
  // and the epoch rollover happen with a prefetch in flight.
  RecordingSource plain_source(1000), prefetch_source(1000);
  MixingBuffer plain(plain_source, 300, 7, /*loop=*/true, /*prefetch=*/false);
  MixingBuffer prefetching(prefetch_source, 300, 7, /*loop=*/true, /*prefetch=*/true);
  std::vector<nlohmann::json> states;
  const auto expected = drain(plain, 90, 30);
  const auto got = drain(prefetching, 90, 30, &states);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i], expected[i]));
  CHECK(prefetching.epoch() == plain.epoch());
  CHECK(prefetching.epoch() == 2);
  // The reads did happen beside the consumer: without prefetch all on this thread, with it not.
  CHECK(plain_source.threads() == std::set<std::thread::id>{std::this_thread::get_id()});
  CHECK(prefetch_source.threads().size() > 1);

  // Restoring a state saved while a prefetch was in flight continues exactly, with or without
  // prefetching in the restored buffer.
  for (size_t i : {size_t{0}, size_t{4}, size_t{13}, size_t{26}}) {
    for (const bool prefetch : {false, true}) {
      RecordingSource source(1000);
      MixingBuffer restored(source, 300, 7, true, prefetch);
      restored.restore(states[i]);
      const auto rest = drain(restored, 90, 3);
      for (size_t j = 0; j < rest.size(); ++j) CHECK(torch::equal(rest[j], expected[i + j]));
    }
  }
  // Restoring into a buffer that has been prefetching (its source moved on) too.
  RecordingSource source(1000);
  MixingBuffer reused(source, 300, 7, true, true);
  drain(reused, 90, 5);
  reused.restore(states[2]);
  CHECK(torch::equal(reused.next_batch(90)->positions, expected[2]));
  reused.restore(states[0]);
  CHECK(torch::equal(reused.next_batch(90)->positions, expected[0]));
}

TEST_CASE("MixingBuffer: an error in a background read reaches the consumer as thrown", "[sae][data]") {
  // Blocks of 64 rows, windows of 300 (5 blocks): block 7 is read by the prefetch of window 1.
  RecordingSource source(1000, /*fail_at=*/7);
  MixingBuffer buffer(source, 300, 7, false, true);
  for (int i = 0; i < 3; ++i) REQUIRE(buffer.next_batch(100));  // window 0 (320 rows) served
  CHECK_THROWS_WITH(buffer.next_batch(100), Catch::Contains("block 7 is damaged"));
  // A buffer destroyed with a read in flight stops it and waits: no crash, no leak.
  {
    RecordingSource slow(100000);
    MixingBuffer dropped(slow, 50000, 1, false, true);
    REQUIRE(dropped.next_batch(10));
  }
}

TEST_CASE("TextDataset reads gzip JSON lines and a dataset folder's split, and seeks back", "[sae][data]") {
  // Every record of the fixture has a "prompt_id" string: read those as the documents.
  TextDataset gz(fpokit::test::fixture("datasets/preference.jsonl.gz"), "prompt_id");
  CHECK(gz.has_records());
  std::vector<TextDocument> docs;
  while (auto d = gz.next()) docs.push_back(*d);
  REQUIRE(docs.size() == 7);
  CHECK(docs[0].text == "0000abababab");
  gz.seek(docs[4].offset, docs[4].line - 1);
  CHECK(gz.next()->text == docs[4].text);

  TempDir dir;
  std::filesystem::create_directories(dir / "train");
  std::ofstream(dir / "train/a.jsonl") << "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
  std::ofstream(dir / "train/b.jsonl") << "{\"text\": \"three\"}\n";
  std::ofstream(dir / "other.txt") << "not data\n";
  TextDataset folder(dir.path(), "text", "train");
  std::vector<TextDocument> all;
  while (auto d = folder.next()) all.push_back(*d);
  REQUIRE(all.size() == 3);
  CHECK(all[2].text == "three");
  folder.seek(all[1].offset, all[1].line - 1);
  CHECK(folder.next()->text == "two");
  CHECK(folder.next()->text == "three");
  CHECK_THROWS_WITH(TextDataset(dir / "train/a.jsonl", "text", "train"),
                    Catch::Contains("--split train applies to a dataset folder"));
}
