// The exact top-k of row_topk.h against torch::topk and against a plain reference (a stable sort by
// the documented order: NaN first, larger values, lower index), on random rows and on rows made
// to defeat the threshold scan: ties, NaN, -inf, sorted rows, k = 1 and k = F.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>

#include "fpokit/core/errors.h"
#include "fpokit/sae/model/row_topk.h"

using namespace fpokit::sae;

namespace {

// The k best entries of `row` (as float) by the documented order, returned in index order.
std::vector<int64_t> reference_topk(const std::vector<float>& row, int64_t k) {
  std::vector<int64_t> order(row.size());
  for (size_t i = 0; i < row.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const float va = row[static_cast<size_t>(a)], vb = row[static_cast<size_t>(b)];
    if (std::isnan(va) != std::isnan(vb)) return std::isnan(va);
    return !std::isnan(va) && va > vb;  // stable: equal values keep index order
  });
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<float> row_values(const torch::Tensor& m, int64_t r) {
  const auto row = m[r].to(torch::kFloat32).contiguous();
  return {row.data_ptr<float>(), row.data_ptr<float>() + row.numel()};
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

// Every row of row_topk(m, k) equals the reference; values are the input's at those indices.
void check_rows(const torch::Tensor& m, int64_t k) {
  const auto sel = row_topk(m, k);
  REQUIRE(sel.values.sizes() == torch::IntArrayRef({m.size(0), k}));
  REQUIRE(sel.values.scalar_type() == m.scalar_type());
  for (int64_t r = 0; r < m.size(0); ++r) {
    INFO("row " << r << ", k " << k);
    const auto expected = reference_topk(row_values(m, r), k);
    REQUIRE(to_vector(sel.indices[r]) == expected);
    const auto gathered = m[r].index_select(0, sel.indices[r]);
    CHECK(torch::equal(gathered.isnan(), sel.values[r].isnan()));
    CHECK(torch::equal(gathered.nan_to_num(0), sel.values[r].nan_to_num(0)));
  }
}

}  // namespace

TEST_CASE("row_topk selects the same latents as torch::topk on random rows", "[sae][topk]") {
  const auto dtype = GENERATE(torch::kFloat32, torch::kBFloat16);
  torch::manual_seed(1);
  const auto m = torch::randn({37, 4099}).to(dtype);
  for (int64_t k : {1, 7, 32, 64, 300}) {
    const auto sel = row_topk(m, k);
    // torch::topk decides ties its own way; bf16 rows do tie, so compare values there and the
    // latents wherever the k-th value is not tied.
    const auto [tv, ti] = m.topk(k, -1, true, true);
    CHECK(torch::equal(std::get<0>(sel.values.sort(-1, true)), tv));
    for (int64_t r = 0; r < m.size(0); ++r) {
      const auto kth = tv[r][k - 1];
      if ((m[r] == kth).sum().item<int64_t>() == 1) CHECK(torch::equal(std::get<0>(ti[r].sort()), sel.indices[r]));
    }
    check_rows(m, k);
  }
}

TEST_CASE("row_topk is exact on ties, NaN, -inf and sorted rows", "[sae][topk]") {
  const auto dtype = GENERATE(torch::kFloat32, torch::kBFloat16);
  torch::manual_seed(2);
  const int64_t F = 3001;
  std::vector<torch::Tensor> rows;
  rows.push_back(torch::randint(0, 4, {F}).to(torch::kFloat32));              // heavy ties
  rows.push_back(torch::zeros({F}));                                          // all equal
  rows.push_back(torch::arange(F).to(torch::kFloat32));                       // ascending: all enter
  rows.push_back(torch::arange(F).flip(0).to(torch::kFloat32));               // descending
  rows.push_back(torch::full({F}, -std::numeric_limits<float>::infinity()));  // all -inf
  auto with_nan = torch::randn({F});
  with_nan.index_put_({torch::tensor({5, 700, 701, 2999})}, std::nanf(""));
  rows.push_back(with_nan);
  auto many_nan = torch::full({F}, std::nanf(""));
  many_nan.slice(0, 0, 10).fill_(1.0);
  rows.push_back(many_nan);  // more NaNs than k: the scan closes early
  auto ties_late = torch::randn({F});
  ties_late.slice(0, F - 500).fill_(10.0);  // 500 equal maxima at the end: the lowest indices win
  rows.push_back(ties_late);
  auto neg_inf_mix = torch::randn({F});
  neg_inf_mix.slice(0, 0, F - 3).fill_(-std::numeric_limits<float>::infinity());
  rows.push_back(neg_inf_mix);
  const auto m = torch::stack(rows).to(dtype);
  for (int64_t k : {int64_t{1}, int64_t{3}, int64_t{20}, int64_t{64}, int64_t{257}, F}) check_rows(m, k);
}

TEST_CASE("flat_topk selects the k·B largest entries of the batch exactly", "[sae][topk]") {
  const auto dtype = GENERATE(torch::kFloat32, torch::kBFloat16);
  const int threads = GENERATE(1, 2, 3);
  const int before = at::get_num_threads();
  at::set_num_threads(threads);
  torch::manual_seed(3);
  auto m = torch::randn({24, 513});
  m.index_put_({5}, 2.0);  // a tied plateau across a thread boundary
  m.index_put_({17, 3}, std::nanf(""));
  m = m.to(dtype);
  for (int64_t k : {1, 24 * 4, 24 * 32, 24 * 513}) {
    INFO("threads " << threads << ", k " << k);
    const auto sel = flat_topk(m, k);
    const auto flat = m.reshape({-1});
    const auto expected = reference_topk(row_values(flat.unsqueeze(0), 0), k);
    REQUIRE(to_vector(sel.indices) == expected);
    const auto gathered = flat.index_select(0, sel.indices);
    CHECK(torch::equal(gathered.nan_to_num(0), sel.values.nan_to_num(0)));
  }
  at::set_num_threads(before);
}

TEST_CASE("row_topk rejects a k outside the row", "[sae][topk]") {
  const auto m = torch::randn({2, 5});
  CHECK_THROWS_AS(row_topk(m, 6), fpokit::InputError);
  CHECK_THROWS_AS(flat_topk(m, 11), fpokit::InputError);
  CHECK(row_topk(m, 0).indices.numel() == 0);
}
