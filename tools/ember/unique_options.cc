#include "tools/ember/unique_options.h"

#include <cstdlib>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "tools/ember/model_names.h"

namespace ember::cli {

void add_unique_options(CLI::App* cmd, UniqueArgs& a) {
  cmd->add_option("--styles", a.styles,
                  "Unique replies (axon only): a style (system-prompt snippet) drawn per reply from FILE.toml / "
                  "FILE.json ([[styles]] name, text, weight), or `builtin` for the built-in twenty-six. Off by default: "
                  "never for validators that compare exact logprobs");
  cmd->add_option("--best-of", a.best_of,
                  "Unique replies (axon only): local candidates per axon request, each with its own style and seed")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--select", a.select,
                  "Which candidate an axon request returns: unique (among those that pass the quality floor, the one "
                  "far enough from the consensus in embedding space with the best relevance, or the farthest: see "
                  "--select-anchors and --select-target-distance) or first (the first to pass it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"unique", "first"}));
  cmd->add_option("--style-placement", a.style_placement,
                  "Where a candidate's style goes: system (a system turn), after (the end of the user's turn) or "
                  "mixed (alternating, which spreads the candidates wider)")
      ->capture_default_str()
      ->check(CLI::IsMember({"system", "after", "mixed"}));
  cmd->add_option("--select-anchors", a.select_anchors,
                  "--select unique: unstyled replies at a stock miner's settings (the first greedy, the rest "
                  "temperature 0.7) run beside the candidates as the consensus to move away from; never returned "
                  "unless nothing else is usable (0: the candidates' centroid)")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  cmd->add_option("--select-target-distance", a.target_distance,
                  "With --select-anchors: choose the candidate with the best relevance x the validators' "
                  "diversity factor centred this far from the nearest anchor, instead of the farthest one "
                  "(0: the farthest)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--select-encoder", a.select_encoder,
                  "Sentence encoder for --select unique: a sentence-transformers folder or a fetched name")
      ->capture_default_str();
  cmd->add_option("--select-min-logprob", a.min_logprob,
                  "Quality floor: a candidate whose mean token logprob is below this is not chosen")
      ->capture_default_str();
  cmd->add_option("--select-relevance-ratio", a.relevance_ratio,
                  "Quality floor: a candidate whose cosine to the prompt is below this fraction of the best "
                  "candidate's is off topic (0: no check)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--select-budget-ms", a.select_budget_ms,
                  "Time kept before an axon request's deadline for embedding and choosing")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  cmd->add_option("--upstream", a.upstream,
                  "Also ask an OpenAI-compatible endpoint (base URL, e.g. http://127.0.0.1:8000/v1) for candidates; "
                  "its errors and timeouts never fail a request a local candidate answers");
  cmd->add_option("--upstream-model", a.upstream_model, "The `model` sent upstream (default: none sent)");
  cmd->add_option("--upstream-key-env", a.upstream_key_env,
                  "Environment variable holding the upstream's API key (sent as a Bearer token)")
      ->capture_default_str();
  cmd->add_option("--upstream-timeout-ms", a.upstream_timeout_ms,
                  "Upstream call limit (the request's deadline bounds it too)")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  cmd->add_option("--upstream-candidates", a.upstream_candidates,
                  "Candidates asked of --upstream per request, on top of --best-of")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
}

void check_unique_args(const UniqueArgs& a) {
  if (a.select_anchors > 0 && a.select != "unique")
    throw Error(fmt::format("--select-anchors {}: anchors only serve --select unique", a.select_anchors));
  if (a.select_anchors > 0 && a.best_of + (a.upstream.empty() ? 0 : a.upstream_candidates) < 2)
    throw Error(fmt::format("--select-anchors {}: there is no choice to make with one candidate (set --best-of 2 or more)",
                            a.select_anchors));
  if (!a.styles.empty()) net::unique::StyleBook::load(a.styles);
  if (!a.upstream.empty()) net::unique::UpstreamClient({a.upstream, "", "", std::chrono::milliseconds(1)});
}

UniqueSetup make_unique_setup(const UniqueArgs& a, net::CompletionService& inner, const ChatCodec* codec,
                              std::function<void(const std::string&)> log) {
  UniqueSetup out;
  if (!a.enabled()) return out;
  net::unique::UniqueOptions o;
  o.best_of = a.best_of;
  o.select = a.select == "first" ? net::unique::SelectMode::kFirst : net::unique::SelectMode::kUnique;
  if (!a.styles.empty()) o.styles = net::unique::StyleBook::load(a.styles);
  // Templates that refuse a system role raise when rendering one (Gemma 2's does).
  if (codec) {
    try {
      codec->render({{"system", "s"}, {"user", "u"}});
    } catch (const std::exception&) {
      o.system_role = false;
    }
  }
  o.placement = a.style_placement == "system"  ? net::unique::StylePlacement::kSystem
                : a.style_placement == "after" ? net::unique::StylePlacement::kAfterPrompt
                                               : net::unique::StylePlacement::kMixed;
  o.anchors = a.select_anchors;
  o.target_distance = a.target_distance;
  o.floor.min_mean_logprob = a.min_logprob;
  o.floor.min_relevance_ratio = a.relevance_ratio;
  o.select_budget = std::chrono::milliseconds(a.select_budget_ms);
  o.log = log;
  std::string upstream_note;
  if (!a.upstream.empty()) {
    net::unique::UpstreamConfig uc;
    uc.url = a.upstream;
    uc.model = a.upstream_model;
    if (const char* k = std::getenv(a.upstream_key_env.c_str())) uc.api_key = k;
    uc.timeout = std::chrono::milliseconds(a.upstream_timeout_ms);
    o.upstream = std::make_shared<net::unique::UpstreamClient>(uc);
    o.upstream_candidates = a.upstream_candidates;
    upstream_note = fmt::format(" + {} from {}{}", a.upstream_candidates, a.upstream,
                                uc.api_key.empty() ? fmt::format(" (no key in ${})", a.upstream_key_env) : "");
  }
  const int total = a.best_of + (a.upstream.empty() ? 0 : a.upstream_candidates);
  std::string encoder_note;
  if (o.select == net::unique::SelectMode::kUnique && total >= 2) {
    const std::string dir = resolve_model_arg(a.select_encoder);
    out.encoder = SentenceEncoder::open(dir);
    SentenceEncoder* enc = out.encoder.get();
    o.embed = [enc](const std::vector<std::string>& texts) { return enc->embed(texts); };
    encoder_note = fmt::format(", encoder {} ({} dims), {}", enc->name(), enc->dim(),
                               a.select_anchors ? fmt::format("{} anchor{}{}", a.select_anchors,
                                                              a.select_anchors == 1 ? "" : "s",
                                                              a.target_distance > 0
                                                                  ? fmt::format(", target distance {}", a.target_distance)
                                                                  : "")
                                                : "centroid");
  }
  out.banner = fmt::format("axon only: {} local candidate{}{}, select {}{}, styles {}{}", a.best_of,
                           a.best_of == 1 ? "" : "s", upstream_note, a.select, encoder_note,
                           o.styles ? fmt::format("{} ({}, placed {})", o.styles->origin(), o.styles->styles().size(),
                                                  a.style_placement)
                                    : "none",
                           o.system_role ? "" : " (merged into the first user turn: no system role)");
  out.service = std::make_unique<net::unique::UniqueReplyService>(inner, std::move(o));
  return out;
}

}  // namespace ember::cli
