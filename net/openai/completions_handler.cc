// POST /v1/completions: one choice per prompt, all generating at once (the engine batches them),
// answered whole or streamed as server-sent events, with legacy-format logprobs.
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "net/http/completion_pump.h"
#include "net/metrics/request_timing.h"
#include "net/openai/chat_request.h"
#include "net/openai/completions_request.h"
#include "net/openai/handler_support.h"
#include "net/openai/logprobs_json.h"
#include "net/openai/openai_handler.h"

namespace ember::net::openai {

void OpenAIHandler::completions(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  const auto start = Clock::now();
  CompletionsRequest cr;
  std::string model;
  std::vector<CompletionRequest> creqs;
  std::vector<std::string> echoes;  // the prompt's text per choice, when echo is asked for
  const std::string id = next_id("cmpl");
  Clock::time_point hard{};
  try {
    cr = decode_completions_request(req.body, DecodeLimits{opts_.default_max_tokens, service_.max_logprobs()});
    model = reply_model(cr.model);
    for (size_t i = 0; i < cr.prompts.size(); ++i) {
      CompletionsPrompt& p = cr.prompts[i];
      CompletionRequest c = cr.completion;
      c.request_id = cr.prompts.size() == 1 ? id : fmt::format("{}-{}", id, i);
      // The service refuses a prompt longer than --max-model-len allows (a 400 from start()).
      if (p.text && !cr.add_special_tokens) {
        p.ids = service_.tokenize(*p.text, false);  // the service adds BOS to text prompts
        if (p.ids.empty()) bad_request("the prompt has no tokens", "prompt");
      }
      if (cr.echo) echoes.push_back(p.text ? *p.text : service_.detokenize(p.ids));
      if (!p.ids.empty()) {
        c.prompt_ids = p.ids;
      } else {
        c.prompt_text = *p.text;
      }
      hard = set_deadline(req, start, c);
      creqs.push_back(std::move(c));
    }
  } catch (const RequestError& e) {
    w.send(request_error(e));
    return;
  } catch (const std::invalid_argument& e) {  // ids the tokenizer does not know
    w.send(api_error(400, e.what(), "invalid_request_error", "prompt"));
    return;
  } catch (const std::logic_error& e) {
    w.send(api_error(501, e.what(), "server_error"));
    return;
  }

  std::vector<std::shared_ptr<CompletionStream>> streams;
  for (const CompletionRequest& c : creqs) {
    auto s = start_stream(c, w);
    if (!s) {  // answered already: the prompts started so far are abandoned
      for (auto& started : streams) started->cancel();
      return;
    }
    streams.push_back(std::move(s));
  }
  const long long created = unix_now();
  const bool logprobs = cr.logprobs >= 0;
  metrics::RequestTiming timing(metrics_, "openai", start);
  CompletionUsage usage;
  std::vector<CompletionsChoice> choices(streams.size());
  bool failed = false, gone = false;
  std::string error;

  const bool streaming = cr.completion.stream;
  if (streaming && !w.begin_stream(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}})) {
    for (auto& s : streams) s->cancel();
    return;
  }
  bool ok = true;
  for (size_t i = 0; i < streams.size(); ++i) {
    if (failed || gone || !ok) {
      streams[i]->cancel();
      continue;
    }
    CompletionsChoice& choice = choices[i];
    size_t chars = 0;  // the choice's text so far, in characters (text_offset)
    LegacyLogprobs all(cr.logprobs, cr.return_tokens_as_token_ids);
    if (cr.echo) {
      choice.text = echoes[i];
      chars = utf8_length(echoes[i]);
      if (streaming) ok = w.write_chunk(completions_chunk(id, created, model, i, echoes[i], FinishReason::kNone));
    }
    std::string carry;  // text with no token of its own: it rides on the next token's chunk
    timing = metrics::RequestTiming(metrics_, "openai", start);
    auto res = http::pump_pieces(streams[i], w, hard, [&](std::string_view t, const CompletionPiece& p) {
      timing.on_piece(p);
      if (!streaming) {
        for (const GeneratedToken& g : p.tokens) all.add(g, chars);
        choice.text.append(t);
        chars += utf8_length(t);
        return true;
      }
      if (!logprobs) {
        if (!t.empty()) ok = ok && w.write_chunk(completions_chunk(id, created, model, i, t, FinishReason::kNone));
        return ok;
      }
      carry.append(t);
      if (p.tokens.empty()) return ok;
      LegacyLogprobs one(cr.logprobs, cr.return_tokens_as_token_ids);
      for (const GeneratedToken& g : p.tokens) one.add(g, chars);
      chars += utf8_length(carry);
      std::string lp;
      one.append_json(lp);
      ok = ok && w.write_chunk(completions_chunk(id, created, model, i, carry, FinishReason::kNone, lp));
      carry.clear();
      return ok;
    });
    usage.prompt_tokens += res.usage.prompt_tokens;
    usage.completion_tokens += res.usage.completion_tokens;
    choice.finish = res.finish == FinishReason::kNone ? FinishReason::kStop : res.finish;
    if (logprobs && !streaming) all.append_json(choice.logprobs_json);
    if (res.finish == FinishReason::kError) {
      failed = true;
      error = res.error.empty() ? "generation failed" : res.error;
    } else if (streaming && ok) {
      ok = w.write_chunk(completions_chunk(id, created, model, i, carry, choice.finish));
    }
    gone = gone || res.client_gone;
    if (metrics_) metrics_->observe_completion("openai", res.usage.completion_tokens, finish_reason_name(res.finish));
  }
  timing.finish();
  if (streaming) {
    if (failed) w.write_chunk("data: " + error_body(error, "server_error", {}) + "\n\n");
    else if (cr.include_usage) w.write_chunk(completions_usage_event(id, created, model, usage));
    w.write_chunk(kDoneEvent);
    w.end_stream();
    return;
  }
  if (gone) return;
  if (failed) {
    w.send(api_error(500, error, "server_error"));
    return;
  }
  w.send(json_ok(completions_body(id, created, model, choices, usage)));
}

}  // namespace ember::net::openai
