#include "fpokit/sae/data/harvesting_source.h"

#include <torch/torch.h>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/json_integer.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::sae {

namespace {

// The hooks are checked before the context size, so that a wrong hook is what a bad command says.
HarvestOptions checked_options(HarvestOptions options, const lm::CausalLMImpl& model,
                               const std::vector<lm::HookName>& hooks, std::string& context_note) {
  if (hooks.empty()) throw InputError("no hook to harvest: give at least one --hook");
  lm::Hooks check;
  for (const auto& h : hooks) check.capture(h);
  check.validate(model.config(), model.has_resid_mid());
  const auto context = lm::resolve_context_size(model.config(), options.context_size);
  options.context_size = context.tokens;
  context_note = context.note;
  return options;
}

}  // namespace

HarvestingSource::HarvestingSource(lm::CausalLM model, std::shared_ptr<const lm::Tokenizer> tokenizer,
                                   const std::vector<lm::HookName>& hooks, const std::filesystem::path& data,
                                   HarvestOptions options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      hooks_(hooks),
      options_(checked_options(std::move(options), *model_, hooks_, context_note_)),
      data_path_(data),
      dataset_(data, options_.text_field, options_.split),
      packer_(dataset_, *tokenizer_, options_.context_size) {
  if (options_.batch_sequences < 1) throw InputError("the harvesting batch needs at least one sequence");
  for (const auto& h : hooks_) {
    hook_names_.push_back(h.str());
    d_in_.push_back(model_->config().hidden_size);
  }
  const auto device = model_->parameters().front().device();
  const int64_t vocab = std::max<int64_t>(model_->config().vocab_size, tokenizer_->vocab_size());
  auto special = torch::zeros({vocab}, torch::kBool);
  auto acc = special.accessor<bool, 1>();
  for (int64_t id = 0; id < tokenizer_->vocab_size(); ++id) acc[id] = tokenizer_->is_special(id);
  acc[packer_.separator_id()] = true;
  if (tokenizer_->bos_id()) acc[*tokenizer_->bos_id()] = true;
  for (const auto id : tokenizer_->eos_ids()) acc[id] = true;
  if (tokenizer_->pad_id()) acc[*tokenizer_->pad_id()] = true;
  special_ids_ = special.to(device);
  if (!context_note_.empty()) core::log::info(context_note_);  // everything above has passed
}

std::optional<ActivationRows> HarvestingSource::next() {
  std::vector<int64_t> flat;
  int64_t n_rows = 0;
  while (n_rows < options_.batch_sequences) {
    auto row = packer_.next_row();
    if (!row) break;
    flat.insert(flat.end(), row->begin(), row->end());
    ++n_rows;
  }
  if (n_rows == 0) return std::nullopt;
  const int64_t T = options_.context_size;
  const auto device = special_ids_.device();
  const auto ids = torch::tensor(flat, torch::kInt64).view({n_rows, T}).to(device);

  torch::NoGradGuard no_grad;
  lm::Hooks hooks;
  for (const auto& h : hooks_) hooks.capture(h);
  hooks.stop_after_last_read();
  model_->forward({ids, {}}, &hooks);

  const auto tokens = ids.reshape({-1});
  auto not_special = torch::ones_like(tokens, torch::kBool);
  if (options_.exclude_special_tokens) not_special = ~special_ids_.index_select(0, tokens);
  // Each hook's median is over the batch's non-special tokens, not over what earlier hooks left,
  // so the kept set does not depend on the order of the hooks.
  auto keep = not_special;
  std::vector<torch::Tensor> acts;
  for (const auto& h : hooks_) {
    const auto a = hooks.captured().at(h).reshape({n_rows * T, -1});
    if (options_.exclude_norm_multiple > 0) {
      const auto norms = a.to(torch::kFloat32).norm(2, -1);
      const auto median = norms.masked_select(not_special).median();
      keep = keep & (norms <= median * options_.exclude_norm_multiple);
    }
    acts.push_back(a);
  }
  const auto index = keep.nonzero().squeeze(1);
  tokens_excluded_ += n_rows * T - index.size(0);
  ActivationRows out;
  for (auto& a : acts) out.activations.push_back(a.index_select(0, index).to(torch::kFloat32));
  out.token_ids = tokens.index_select(0, index);
  const auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(device)).repeat({n_rows});
  out.positions = positions.index_select(0, index);
  const auto seq =
      torch::arange(rows_read_, rows_read_ + n_rows, torch::TensorOptions().dtype(torch::kInt64).device(device))
          .repeat_interleave(T);
  out.sequence_ids = seq.index_select(0, index);
  rows_read_ += n_rows;
  return out;
}

nlohmann::json HarvestingSource::position() const {
  const auto p = packer_.position();
  return {{"offset", p.offset}, {"line", p.line}, {"token_offset", p.token_offset}, {"rows", rows_read_}};
}

void HarvestingSource::seek(const nlohmann::json& position) {
  packer_.seek({core::json_state_integer(position, "offset"), core::json_state_integer(position, "line"),
                core::json_state_integer(position, "token_offset")});
  rows_read_ = core::json_state_integer(position, "rows");
}

std::string HarvestingSource::describe() const {
  // Part of a run's identity (a resume must read the same records): the split and the text field
  // appear when they are not the defaults, so that runs from before they existed still resume.
  const std::string split = options_.split.empty() ? "" : " split " + options_.split;
  const std::string field = options_.text_field == "text" ? "" : " field " + options_.text_field;
  return "online: " + data_path_.string() + split + field + ", context " + std::to_string(options_.context_size) +
         ", " + std::to_string(options_.batch_sequences) + " sequences per forward";
}

}  // namespace fpokit::sae
