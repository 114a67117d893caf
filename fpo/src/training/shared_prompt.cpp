#include "fpokit/fpo/training/shared_prompt.h"

#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "fpokit/fpo/training/pair_forward.h"

namespace fpokit::fpo {

torch::Tensor SharedPromptLayout::to_pair_layout(const torch::Tensor& packed) const {
  const auto sizes = packed.sizes().vec();
  std::vector<int64_t> flat{sizes[0] * sizes[1]};
  std::vector<int64_t> out{pair_rows, seq_len};
  for (size_t d = 2; d < sizes.size(); ++d) {
    flat.push_back(sizes[d]);
    out.push_back(sizes[d]);
  }
  return packed.reshape(flat).index_select(0, gather_index.to(packed.device())).view(out);
}

SharedPromptLayout shared_prompt_layout(const PairBatch& batch) {
  const int64_t B = batch.pairs(), T = batch.input_ids.size(1);
  const auto ids = batch.input_ids.to(torch::kCPU, torch::kInt64).contiguous();
  const auto mask = batch.attention_mask.to(torch::kCPU, torch::kInt64).contiguous();
  const auto id = ids.accessor<int64_t, 2>();
  const auto real = mask.accessor<int64_t, 2>();
  std::vector<int64_t> len_w(B), len_l(B), shared(B);
  int64_t L = 1;
  SharedPromptLayout out;
  for (int64_t b = 0; b < B; ++b) {
    // Right-padded rows: the length is the count of real tokens.
    for (int64_t t = 0; t < T; ++t) {
      len_w[b] += real[b][t] != 0;
      len_l[b] += real[B + b][t] != 0;
    }
    int64_t p = 0;
    while (p < std::min(len_w[b], len_l[b]) && id[b][p] == id[B + b][p]) ++p;
    shared[b] = p;
    L = std::max(L, len_w[b] + len_l[b] - p);
  }
  auto packed_ids = torch::zeros({B, L}, torch::kInt64);
  auto packed_mask = torch::zeros({B, L}, torch::kInt64);
  auto positions = torch::zeros({B, L}, torch::kInt64);
  auto segments = torch::zeros({B, L}, torch::kInt64);
  auto gather = torch::zeros({2 * B, T}, torch::kInt64);
  auto pid = packed_ids.accessor<int64_t, 2>();
  auto pmask = packed_mask.accessor<int64_t, 2>();
  auto pos = positions.accessor<int64_t, 2>();
  auto seg = segments.accessor<int64_t, 2>();
  auto g = gather.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t P = shared[b];
    int64_t column = 0;
    const auto put = [&](int64_t token, int64_t position, int64_t segment) {
      pid[b][column] = token;
      pmask[b][column] = 1;
      pos[b][column] = position;
      seg[b][column] = segment;
      return b * L + column++;
    };
    for (int64_t t = 0; t < P; ++t) g[b][t] = g[B + b][t] = put(id[b][t], t, 0);
    for (int64_t t = P; t < len_w[b]; ++t) g[b][t] = put(id[b][t], t, 1);
    for (int64_t t = P; t < len_l[b]; ++t) g[B + b][t] = put(id[B + b][t], t, 2);
  }
  const auto device = batch.input_ids.device();
  out.input_ids = packed_ids.to(device);
  out.attention_mask = packed_mask.to(device);
  out.position_ids = positions.to(device);
  out.segment_ids = segments.to(device);
  out.gather_index = gather.reshape({-1}).to(device);
  out.pair_rows = 2 * B;
  out.seq_len = T;
  return out;
}

}  // namespace fpokit::fpo
