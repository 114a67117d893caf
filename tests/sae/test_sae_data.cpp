// Training data plumbing: text datasets, context packing, the mixing buffer.
#include <fstream>

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/data/context_packer.h"
#include "fpokit/sae/data/mixing_buffer.h"
#include "fpokit/sae/data/text_dataset.h"
#include "sae_test_util.h"
#include "synthetic_source.h"

#include <catch2/catch.hpp>

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
  write_file(dir / "d.jsonl", "{\"text\": \"first doc\"}\n\n{\"text\": \"\"}\n{\"text\": \"second\", \"x\": 1}\r\n{\"text\": \"third\"}");
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
  for (int i = 0; i < 20; ++i) corpus += "{\"text\": \"The quick brown fox " + std::to_string(i) + " jumps over the lazy dog.\"}\n";
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
  CHECK(sorted == all);     // every row exactly once
  CHECK(seen != all);       // and shuffled
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
