#include "fpokit/lm/model/chunked_token_logps.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/torch.h>

#include "fpokit/core/train/autocast_scope.h"
#include "fpokit/lm/model/generator_states.h"
#include "fpokit/lm/model/log_probs.h"

namespace fpokit::lm {

namespace {

struct ChunkScores {
  torch::Tensor logps, kl, logit_sums;
};

// One chunk: the head, log-softmax over the whole vocabulary, the gather, and the reference KL.
ChunkScores score_chunk(const TokenLogpsRequest& r, const torch::Tensor& hidden, const torch::Tensor& targets,
                        const torch::Tensor& reference_hidden) {
  const auto logits = r.head(hidden);
  ChunkScores out;
  {
    torch::NoGradGuard no_grad;
    out.logit_sums = torch::sum(logits.detach(), {-1}, false, torch::kFloat32);
  }
  const auto logp = log_probs(logits);
  out.logps = gather_log_probs(logp, targets);
  if (r.reference_head) {
    torch::Tensor reference_logp;
    {
      torch::NoGradGuard no_grad;
      reference_logp = log_probs(r.reference_head(reference_hidden)).to(logp.scalar_type());
    }
    out.kl = kl_divergence(reference_logp, logp);
  }
  return out;
}

struct ChunkedLogpsBackward : torch::autograd::Node {
  TokenLogpsRequest request;  // hidden detached; the graph before it is reached through next_edges
  // The forward's autocast state, put back for the recomputation (the backward runs outside the
  // caller's autocast scope) and undone after it.
  c10::DeviceType device_type;
  core::AutocastState autocast;
  GeneratorStates generators;

  ChunkedLogpsBackward(TokenLogpsRequest r)
      : request(std::move(r)),
        device_type(request.hidden.device().type()),
        autocast(core::AutocastState::current(device_type)),
        generators(request.hidden.device()) {
    request.hidden = request.hidden.detach();
  }

  std::string name() const override { return "fpokit::ChunkedLogpsBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const auto& r = request;
    const bool has_kl = static_cast<bool>(r.reference_head);
    const torch::Tensor grad_logps = grads[0];
    const torch::Tensor grad_kl = has_kl && grads.size() > 1 ? grads[1] : torch::Tensor();
    if (!grad_logps.defined() && !grad_kl.defined()) return {torch::Tensor()};
    torch::AutoGradMode grad_on(true);
    core::AutocastScope autocast_scope(device_type, autocast);
    const auto previous = generators.swap_in();
    auto grad_hidden = torch::zeros_like(r.hidden);
    try {
      const int64_t N = r.hidden.size(0);
      for (int64_t start = 0; start < N; start += r.chunk_size) {
        const int64_t n = std::min(r.chunk_size, N - start);
        auto h = r.hidden.narrow(0, start, n).detach().requires_grad_(true);
        const auto scores = score_chunk(r, h, r.targets.narrow(0, start, n),
                                        has_kl ? r.reference_hidden.narrow(0, start, n) : torch::Tensor());
        std::vector<torch::Tensor> outputs, output_grads;
        if (grad_logps.defined()) {
          outputs.push_back(scores.logps);
          output_grads.push_back(grad_logps.narrow(0, start, n));
        }
        if (grad_kl.defined()) {
          outputs.push_back(scores.kl);
          output_grads.push_back(grad_kl.narrow(0, start, n));
        }
        torch::autograd::backward(outputs, output_grads);
        if (h.grad().defined()) grad_hidden.narrow(0, start, n).copy_(h.grad());
      }
    } catch (...) {
      previous.restore();
      throw;
    }
    previous.restore();
    return {grad_hidden};
  }

  void release_variables() override { request = TokenLogpsRequest{}; }
};

void check_request(const TokenLogpsRequest& r) {
  const std::string w = "chunked_token_logps: ";
  if (!r.head) throw std::invalid_argument(w + "no LM head");
  if (r.chunk_size < 1)
    throw std::invalid_argument(w + "chunk_size must be at least 1, got " + std::to_string(r.chunk_size));
  if (!r.hidden.defined() || r.hidden.dim() != 2) throw std::invalid_argument(w + "hidden must be [N, hidden]");
  if (!r.targets.defined() || r.targets.dim() != 1 || r.targets.size(0) != r.hidden.size(0) ||
      r.targets.is_floating_point())
    throw std::invalid_argument(w + "targets must be [N] integer token ids");
  if (r.reference_head && (!r.reference_hidden.defined() || r.reference_hidden.dim() != 2 ||
                           r.reference_hidden.size(0) != r.hidden.size(0)))
    throw std::invalid_argument(w + "reference_hidden must be [N, hidden] with the policy's N");
}

}  // namespace

TokenLogps chunked_token_logps(const TokenLogpsRequest& request) {
  check_request(request);
  const int64_t N = request.hidden.size(0);
  const bool has_kl = static_cast<bool>(request.reference_head);
  const auto reference_hidden = has_kl ? request.reference_hidden.detach() : torch::Tensor();
  const bool chunked_backward = torch::GradMode::is_enabled() && request.hidden.requires_grad();

  std::shared_ptr<ChunkedLogpsBackward> node;
  if (chunked_backward) {
    TokenLogpsRequest saved = request;
    saved.reference_hidden = reference_hidden;
    node =
        std::shared_ptr<ChunkedLogpsBackward>(new ChunkedLogpsBackward(std::move(saved)), torch::autograd::deleteNode);
  }
  std::vector<torch::Tensor> logps, kl, sums;
  {
    // With the chunked backward, the forward records nothing; without it, ordinary autograd (a
    // trainable head on a frozen trunk) or none (no_grad: the reference pass, evaluation).
    std::optional<torch::NoGradGuard> no_grad;
    if (chunked_backward) no_grad.emplace();
    for (int64_t start = 0; start < N; start += request.chunk_size) {
      const int64_t n = std::min(request.chunk_size, N - start);
      const auto scores = score_chunk(request, request.hidden.narrow(0, start, n), request.targets.narrow(0, start, n),
                                      has_kl ? reference_hidden.narrow(0, start, n) : torch::Tensor());
      logps.push_back(scores.logps);
      sums.push_back(scores.logit_sums);
      if (has_kl) kl.push_back(scores.kl);
    }
  }
  TokenLogps out;
  const auto dtype = log_prob_dtype(request.hidden.scalar_type());
  const auto empty = [&](torch::ScalarType t) { return torch::zeros({0}, request.hidden.options().dtype(t)); };
  out.logps = logps.empty() ? empty(dtype) : torch::cat(logps);
  out.logit_sums = sums.empty() ? empty(torch::kFloat32) : torch::cat(sums);
  if (has_kl) out.kl = kl.empty() ? empty(dtype) : torch::cat(kl);
  if (node) {
    node->set_next_edges(torch::autograd::collect_next_edges(request.hidden));
    torch::autograd::set_history(out.logps, node);
    if (has_kl) torch::autograd::set_history(out.kl, node);
  }
  return out;
}

}  // namespace fpokit::lm
