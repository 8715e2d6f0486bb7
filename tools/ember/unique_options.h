#pragma once
// `ember serve`'s flags for unique replies (styles, best-of-n, the upstream generator) and the
// decorator they build for the axon. All off by default: today's validators compare exact
// logprobs, and only the 2023-24 synapse validators reward replies unlike other miners'.
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/encoder/sentence_encoder.h"
#include "engine/serve/chat_codec.h"
#include "net/completion_service.h"
#include "net/unique/unique_reply_service.h"

namespace ember::cli {

struct UniqueArgs {
  std::string styles;                  // FILE.toml|FILE.json|builtin; "" none
  int best_of = 1;
  std::string select = "unique";       // unique | first
  std::string select_encoder = "all-mpnet-base-v2";
  int select_anchors = 0;
  double target_distance = 0.2;
  std::string style_placement = "mixed";  // system | after | mixed
  double min_logprob = -2.0;
  double relevance_ratio = 0.9;
  int select_budget_ms = 500;
  std::string upstream;                // base URL of an OpenAI-compatible endpoint
  std::string upstream_model;
  std::string upstream_key_env = "EMBER_UPSTREAM_API_KEY";
  int upstream_timeout_ms = 10000;
  int upstream_candidates = 1;

  bool enabled() const { return !styles.empty() || best_of > 1 || !upstream.empty(); }
};

void add_unique_options(CLI::App* cmd, UniqueArgs& a);

// The cheap checks (styles file, upstream URL), before a model loads.
void check_unique_args(const UniqueArgs& a);

struct UniqueSetup {
  std::unique_ptr<SentenceEncoder> encoder;            // with --select unique and 2+ candidates
  std::unique_ptr<net::unique::UniqueReplyService> service;  // null when no flag is set
  std::string banner;                                  // one line for the start-up summary
};

// Checks the flags, loads the styles and the encoder, and wraps `inner`. `codec` tells whether
// the chat template takes a system message. Throws ember::Error with the flag's name.
UniqueSetup make_unique_setup(const UniqueArgs& a, net::CompletionService& inner, const ChatCodec* codec,
                              std::function<void(const std::string&)> log);

}  // namespace ember::cli
