// Packed rows (ForwardInput::position_ids / segment_ids): sequences that share a prefix, laid out
// as [prefix | branch 1 | branch 2] in one row, give each token the hidden state and logits it
// has in its own sequence laid out alone, on every architecture fixture: rotary positions
// (default, linear, llama3), GPT-2's learned positions, sliding windows measured in positions
// (the fixtures' window of 4 is shorter than the rows), Gemma-2's soft-capped attention, and right
// padding of rows of different lengths.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <vector>

#include "fpokit/lm/model/kv_cache.h"
#include "fpokit/lm/model/load_model.h"
#include "models/model_fixtures.h"

using namespace fpokit;

namespace {

struct Branching {
  std::vector<int64_t> prefix, first, second;
};

// Right-pads rows of ids to one length: ids and attention mask [rows, T].
std::pair<torch::Tensor, torch::Tensor> pad_rows(const std::vector<std::vector<int64_t>>& rows) {
  size_t T = 0;
  for (const auto& r : rows) T = std::max(T, r.size());
  auto ids = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(T)}, torch::kInt64);
  auto mask = torch::zeros_like(ids);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t t = 0; t < rows[i].size(); ++t) {
      ids[static_cast<int64_t>(i)][static_cast<int64_t>(t)] = rows[i][t];
      mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)] = 1;
    }
  return {ids, mask};
}

std::vector<int64_t> cat(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  auto out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

TEST_CASE("packed rows give every token what its own sequence gives, on every architecture", "[models][packed]") {
  torch::manual_seed(0);
  const auto draw = [](int64_t n) {
    const auto t = torch::randint(3, 250, {n}, torch::kInt64);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
  };
  // The second branch of row 0 is longer than the first and than the sliding window.
  const std::vector<Branching> rows = {{draw(5), draw(3), draw(6)}, {draw(2), draw(4), draw(2)}};

  // Packed: [prefix | first | second], positions restart after the prefix for each branch.
  std::vector<std::vector<int64_t>> packed_ids, separate;
  std::vector<std::vector<int64_t>> positions, segments;
  for (const auto& r : rows) {
    packed_ids.push_back(cat(cat(r.prefix, r.first), r.second));
    std::vector<int64_t> pos, seg;
    const auto P = static_cast<int64_t>(r.prefix.size());
    for (int64_t t = 0; t < P; ++t) pos.push_back(t), seg.push_back(0);
    for (size_t t = 0; t < r.first.size(); ++t) pos.push_back(P + static_cast<int64_t>(t)), seg.push_back(1);
    for (size_t t = 0; t < r.second.size(); ++t) pos.push_back(P + static_cast<int64_t>(t)), seg.push_back(2);
    positions.push_back(pos);
    segments.push_back(seg);
    separate.push_back(cat(r.prefix, r.first));
    separate.push_back(cat(r.prefix, r.second));
  }
  const auto [ids, mask] = pad_rows(packed_ids);
  const auto position_ids = pad_rows(positions).first, segment_ids = pad_rows(segments).first;
  const auto [separate_ids, separate_mask] = pad_rows(separate);

  for (const auto& name : test::model_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const auto model = lm::load_model(test::model_fixture(name), {torch::kCPU, torch::kFloat32});
      torch::NoGradGuard no_grad;
      lm::ForwardInput packed{ids, mask, position_ids, segment_ids};
      const auto h_packed = model->hidden_states(packed);
      const auto h_separate = model->hidden_states({separate_ids, separate_mask});
      const auto logits_packed = model->logits(h_packed), logits_separate = model->logits(h_separate);
      double worst = 0.0, scale = 0.0;
      for (size_t r = 0; r < rows.size(); ++r) {
        const auto P = static_cast<int64_t>(rows[r].prefix.size());
        const auto n1 = static_cast<int64_t>(rows[r].first.size()), n2 = static_cast<int64_t>(rows[r].second.size());
        const auto R = static_cast<int64_t>(r);
        // (packed index, separate row, separate index) of every real token.
        std::vector<std::tuple<int64_t, int64_t, int64_t>> where;
        for (int64_t t = 0; t < P; ++t) where.emplace_back(t, 2 * R, t), where.emplace_back(t, 2 * R + 1, t);
        for (int64_t t = 0; t < n1; ++t) where.emplace_back(P + t, 2 * R, P + t);
        for (int64_t t = 0; t < n2; ++t) where.emplace_back(P + n1 + t, 2 * R + 1, P + t);
        for (const auto& [pi, sr, si] : where) {
          for (const auto& [a, b] : {std::pair{&h_packed, &h_separate}, std::pair{&logits_packed, &logits_separate}}) {
            const auto x = (*a)[R][pi], y = (*b)[sr][si];
            worst = std::max(worst, (x - y).abs().max().item<double>());
            scale = std::max(scale, y.abs().max().item<double>());
          }
        }
      }
      INFO("max |packed - separate| = " << worst << ", max |separate| = " << scale);
      CHECK(worst <= 1e-5 * scale);
    }
  }
}

TEST_CASE("packed rows refuse half a layout and a KV cache", "[models][packed]") {
  const auto model = lm::load_model(test::model_fixture("llama-gqa"), {torch::kCPU, torch::kFloat32});
  torch::NoGradGuard no_grad;
  const auto ids = torch::tensor({{5, 6, 7}}, torch::kInt64);
  const auto pos = torch::tensor({{0, 1, 1}}, torch::kInt64), seg = torch::tensor({{0, 1, 2}}, torch::kInt64);
  CHECK_THROWS_AS(model->hidden_states({ids, {}, pos, {}}), std::invalid_argument);
  CHECK_THROWS_AS(model->hidden_states({ids, {}, pos.narrow(1, 0, 2), seg.narrow(1, 0, 2)}), std::invalid_argument);
  lm::KVCache cache(model->config().num_layers);
  CHECK_THROWS_AS(model->hidden_states({ids, {}, pos, seg}, nullptr, &cache), std::invalid_argument);
  CHECK(model->hidden_states({ids, {}, pos, seg}).size(1) == 3);
}
