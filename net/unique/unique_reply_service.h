#pragma once
// Best-of-n for unique replies: a CompletionService that wraps the engine's (and optionally an
// upstream endpoint) for axon requests. Each request becomes N candidates, each with its own
// style (StyleBook) and seed; they run together (the engine batches them and shares whatever
// prompt blocks they have in common), are collected until all end or the request's deadline
// nears, and one is returned: the candidate farthest from the consensus in sentence embedding
// space among those that pass the quality floor (--select unique), or the first to pass it
// (--select first). The consensus is the nearest of a few anchors (unstyled replies at a stock
// miner's settings, generated alongside), or else the candidates' centroid. The chosen text is
// streamed once chosen.
//
// Only for the 2023-24 synapse validators that reward distance from other miners' replies.
// Today's validators re-run the model and compare exact logprobs: never put this in front of
// the OpenAI endpoint.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/completion_service.h"
#include "net/unique/reply_selection.h"
#include "net/unique/style_book.h"
#include "net/unique/upstream_client.h"

namespace ember::net::unique {

enum class SelectMode { kUnique, kFirst };

struct UniqueOptions {
  int best_of = 1;                      // local candidates per request
  SelectMode select = SelectMode::kUnique;
  std::optional<StyleBook> styles;      // none: candidates differ by seed only
  StylePlacement placement = StylePlacement::kSystem;  // where each candidate's style goes
  bool system_role = true;              // false: the template refuses "system" (see apply_style)
  // --select unique: unstyled local replies at a stock miner's settings (the first greedy, the
  // others temperature 0.7, top_p 0.95), run with the candidates and measured against, never
  // returned unless nothing else is usable. 0: the candidates' centroid is the consensus.
  int anchors = 0;
  // With anchors: choose by relevance x the validators' diversity factor moved to this distance
  // from the nearest anchor (select_unique); 0: the farthest candidate.
  double target_distance = 0;
  QualityFloor floor;
  Embedder embed;                       // --select unique with 2+ candidates; empty: first passing
  std::shared_ptr<const UpstreamClient> upstream;  // none: local candidates only
  int upstream_candidates = 1;          // with `upstream`: candidates asked of it, on top of best_of
  // Kept before the request's deadline for embedding and choosing: candidates end by then.
  std::chrono::milliseconds select_budget{500};
  // One line per request (styles drawn, each candidate's outcome, the choice); empty: silent.
  std::function<void(const std::string&)> log;
  // Each style drawn for a candidate (chosen=false), then the chosen candidate's (chosen=true).
  std::function<void(std::string_view style, bool chosen)> on_style;
};

class UniqueReplyService : public CompletionService {
 public:
  // `inner` must outlive the service and its streams.
  UniqueReplyService(CompletionService& inner, UniqueOptions opts);

  std::unique_ptr<CompletionStream> start(const CompletionRequest& req) override;

  std::string model_name() const override { return inner_.model_name(); }
  std::vector<std::string> served_model_names() const override { return inner_.served_model_names(); }
  EngineStats stats() const override { return inner_.stats(); }
  std::vector<int32_t> tokenize(const std::string& text, bool add_special) const override {
    return inner_.tokenize(text, add_special);
  }
  std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages) const override {
    return inner_.tokenize_chat(messages);
  }
  std::string detokenize(const std::vector<int32_t>& ids) const override { return inner_.detokenize(ids); }
  int max_model_len() const override { return inner_.max_model_len(); }
  int max_logprobs() const override { return inner_.max_logprobs(); }

  const UniqueOptions& options() const { return opts_; }
  // Hooks wired after construction (the server that owns the metrics is built with this
  // service); set them before the first start().
  void set_on_style(std::function<void(std::string_view style, bool chosen)> fn) { opts_.on_style = std::move(fn); }

  // The seed of candidate `index` of a request seeded `base` (distinct streams per candidate).
  static uint64_t candidate_seed(uint64_t base, uint32_t index);

 private:
  CompletionService& inner_;
  UniqueOptions opts_;
  // How long embedding the candidates has been taking (a running average, ns): the time kept
  // for choosing is at least 1.5x this, and a request too close to its deadline skips it.
  std::atomic<int64_t> embed_ns_{0};
};

}  // namespace ember::net::unique
