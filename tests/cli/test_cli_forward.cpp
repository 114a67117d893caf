// `fpokit forward` end to end: the file it writes holds HF's logits and hidden states.
// LibTorch before Catch2: c10's logging header defines its own CHECK macro.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;

TEST_CASE("cli: forward writes logits and hooks that match HF on a padded batch", "[cli][forward]") {
  test::TempDir tmp;
  const auto model = test::fixture("models/llama-gqa");
  const lm::SafetensorsFile ref(model / "reference.safetensors");
  const auto ids = ref.load("input_ids");
  const auto mask = ref.load("attention_mask");
  nlohmann::json batch = nlohmann::json::array();
  for (int64_t i = 0; i < ids.size(0); ++i) {
    std::vector<int64_t> row;
    for (int64_t j = 0; j < ids.size(1); ++j) {
      if (mask[i][j].item<int64_t>()) row.push_back(ids[i][j].item<int64_t>());
    }
    batch.push_back(row);
  }
  std::ofstream(tmp / "ids.json") << batch.dump();
  const auto r = test::run_command("'" + test::fpokit_binary().string() + "' forward --model '" + model.string() +
                                   "' --input-ids '" + (tmp / "ids.json").string() + "' --out '" +
                                   (tmp / "out.safetensors").string() +
                                   "' --hooks blocks.0.hook_resid_pre,blocks.1.hook_resid_post");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const lm::SafetensorsFile out(tmp / "out.safetensors");
  CHECK(torch::equal(out.load("attention_mask"), mask));
  CHECK(torch::equal(out.load("input_ids").masked_select(mask.to(torch::kBool)), ids.masked_select(mask.to(torch::kBool))));
  const auto keep = mask.to(torch::kFloat32).unsqueeze(-1);
  CHECK((out.load("logits") - ref.load("logits") * keep).abs().max().item<double>() < 1e-4);
  CHECK((out.load("blocks.0.hook_resid_pre") - ref.load("hidden_states.0") * keep).abs().max().item<double>() < 1e-4);
  CHECK((out.load("blocks.1.hook_resid_post") - ref.load("hidden_states.2") * keep).abs().max().item<double>() < 1e-4);
  CHECK(out.load("logits").scalar_type() == torch::kFloat32);
}
