// encode() and decode() on one const tokenizer from several threads at once give the ids of a
// single-threaded run (the BPE cache is shared between threads).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "fpokit/lm/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_fixtures.h"

using fpokit::lm::Tokenizer;
using namespace fpokit::test;

TEST_CASE("tokenizer: concurrent encode gives the same ids", "[tokenizer]") {
  for (const std::string name : {"llama3", "qwen2", "gpt2", "llama2-sp"}) {
    SECTION(name) {
      const std::unique_ptr<const Tokenizer> tokenizer = Tokenizer::from_directory(tokenizer_fixture(name));
      const auto expected = expected_for(name);
      std::vector<std::string> texts;
      std::vector<std::vector<int64_t>> want;
      std::vector<std::string> want_text;
      for (const auto& c : expected.at("cases")) {
        texts.push_back(c.at("text"));
        want.push_back(ids_of(c.at("ids")));
        want_text.push_back(c.at("decoded_skip_special"));
      }
      constexpr int kThreads = 8;
      std::atomic<int64_t> wrong{0};
      std::atomic<int64_t> done{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          // Each thread walks the strings from a different start so that cache fills interleave.
          for (std::size_t k = 0; k < texts.size(); ++k) {
            const std::size_t i = (k + static_cast<std::size_t>(t) * 37) % texts.size();
            const auto ids = tokenizer->encode(texts[i], true);
            if (ids != want[i]) ++wrong;
            if (tokenizer->decode(ids, true) != want_text[i]) ++wrong;
            ++done;
          }
        });
      }
      for (auto& thread : threads) thread.join();
      CHECK(done == static_cast<int64_t>(kThreads * texts.size()));
      CHECK(wrong == 0);
    }
  }
}
