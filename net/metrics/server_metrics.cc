#include "net/metrics/server_metrics.h"

namespace ember::net::metrics {
namespace {

std::string route_label(std::string_view route) {
  return route.empty() ? std::string("unmatched") : std::string(route);
}

}  // namespace

ServerMetrics::ServerMetrics()
    : requests_("ember_http_requests_total", "HTTP requests answered, by route and status.",
                {"route", "status"}),
      latency_("ember_http_request_duration_seconds",
               "Time from the first byte of a request to the end of its response.", {"route"},
               {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}),
      tokens_("ember_completion_tokens_total", "Completion tokens returned to clients, by API.",
              {"api"}),
      completions_("ember_completions_total", "Completions finished, by API and finish reason.",
                   {"api", "reason"}),
      inter_token_("ember_inter_token_latency_seconds",
                   "Gap between consecutive generated tokens of one request, by API.", {"api"},
                   {0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                    0.4, 0.5, 0.75, 1, 2.5}),
      e2e_("ember_e2e_request_latency_seconds",
           "From a completion request's arrival to the end of its reply, by API.", {"api"},
           {0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120}),
      auth_rejections_("ember_auth_rejections_total",
                       "Requests refused by access control or size limits, by protocol and reason.",
                       {"protocol", "reason"}),
      styles_("ember_styles_total",
              "Styles of unique replies: drawn for a candidate, and chosen for the reply returned.",
              {"style", "outcome"}) {}

void ServerMetrics::observe_request(std::string_view route, int status, double seconds) {
  std::string r = route_label(route);
  // Latency first: a request that shows in the count has its duration observed too.
  latency_.observe({r}, seconds);
  requests_.add({r, std::to_string(status)});
}

void ServerMetrics::observe_completion(std::string_view api, int64_t completion_tokens,
                                       std::string_view finish_reason) {
  tokens_.add({std::string(api)}, static_cast<double>(completion_tokens));
  completions_.add({std::string(api), std::string(finish_reason)});
}

void ServerMetrics::observe_auth_rejection(std::string_view protocol, std::string_view reason) {
  auth_rejections_.add({std::string(protocol), std::string(reason)});
}

double ServerMetrics::auth_rejections(std::string_view protocol, std::string_view reason) const {
  return auth_rejections_.value({std::string(protocol), std::string(reason)});
}

void ServerMetrics::observe_style(std::string_view style, bool chosen) {
  styles_.add({std::string(style), chosen ? "chosen" : "drawn"});
}

double ServerMetrics::styles(std::string_view style, std::string_view outcome) const {
  return styles_.value({std::string(style), std::string(outcome)});
}

void ServerMetrics::observe_inter_token(std::string_view api, double seconds, int64_t tokens) {
  if (tokens <= 0) return;
  const double each = seconds / static_cast<double>(tokens);
  for (int64_t i = 0; i < tokens; ++i) inter_token_.observe({std::string(api)}, each);
}

void ServerMetrics::observe_e2e(std::string_view api, double seconds) {
  e2e_.observe({std::string(api)}, seconds);
}

uint64_t ServerMetrics::e2e_count(std::string_view api) const { return e2e_.count({std::string(api)}); }

double ServerMetrics::requests(std::string_view route, int status) const {
  return requests_.value({route_label(route), std::to_string(status)});
}

std::string ServerMetrics::render() const {
  std::string out;
  requests_.render(out);
  latency_.render(out);
  tokens_.render(out);
  completions_.render(out);
  inter_token_.render(out);
  e2e_.render(out);
  auth_rejections_.render(out);
  styles_.render(out);
  if (connections_)
    render_gauge(out, "ember_http_connections", "Open client connections.", connections_());
  if (in_flight_)
    render_gauge(out, "ember_http_requests_in_flight", "Requests being handled.", in_flight_());
  if (engine_stats_) {
    EngineStats s = engine_stats_();
    render_gauge(out, "ember_engine_queue_depth", "Requests waiting for admission.",
                 static_cast<double>(s.queue_depth));
    render_gauge(out, "ember_engine_running", "Sequences being generated.",
                 static_cast<double>(s.running));
    render_gauge(out, "ember_kv_blocks_used", "KV-cache blocks in use.",
                 static_cast<double>(s.kv_blocks_used));
    render_gauge(out, "ember_kv_blocks_total", "KV-cache blocks in the pool.",
                 static_cast<double>(s.kv_blocks_total));
    render_gauge(out, "ember_kv_cache_usage_ratio", "Fraction of KV-cache blocks in use.",
                 s.kv_blocks_total > 0
                     ? static_cast<double>(s.kv_blocks_used) / static_cast<double>(s.kv_blocks_total)
                     : 0.0);
    render_counter(out, "ember_prompt_tokens_total", "Prompt tokens prefilled.",
                   static_cast<double>(s.prompt_tokens_total));
    render_counter(out, "ember_generated_tokens_total", "Tokens generated by the engine.",
                   static_cast<double>(s.generated_tokens_total));
    render_counter(out, "ember_preemptions_total", "Sequences preempted for lack of KV cache.",
                   static_cast<double>(s.preemptions_total));
    render_histogram(out, "ember_engine_step_seconds", "Duration of one engine step.",
                     s.step_seconds);
    render_histogram(out, "ember_time_to_first_token_seconds",
                     "From admission to the first generated token.",
                     s.time_to_first_token_seconds);
  }
  return out;
}

}  // namespace ember::net::metrics
