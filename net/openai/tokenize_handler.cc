// vLLM's POST /tokenize and POST /detokenize over the service's tokenizer (same access as /v1).
#include <stdexcept>

#include "net/openai/handler_support.h"
#include "net/openai/openai_handler.h"
#include "net/openai/tokenize_api.h"

namespace ember::net::openai {

void OpenAIHandler::tokenize(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  try {
    const TokenizeRequest tr = decode_tokenize_request(req.body);
    reply_model(tr.model);
    const std::vector<int32_t> ids = tr.prompt ? service_.tokenize(*tr.prompt, tr.add_special_tokens)
                                               : service_.tokenize_chat(tr.messages);
    std::vector<std::string> strs;
    // Each id decoded alone, as logprobs entries show tokens (vLLM shows the vocabulary's raw
    // pieces here; ember's seam has only decoded text).
    if (tr.return_token_strs)
      for (int32_t id : ids) strs.push_back(service_.detokenize({id}));
    w.send(json_ok(tokenize_body(ids, service_.max_model_len(), tr.return_token_strs ? &strs : nullptr)));
  } catch (const RequestError& e) {
    w.send(request_error(e));
  } catch (const std::invalid_argument& e) {
    w.send(api_error(400, e.what(), "invalid_request_error"));
  } catch (const std::logic_error& e) {
    w.send(api_error(501, e.what(), "server_error"));
  }
}

void OpenAIHandler::detokenize(http::HttpRequest& req, http::ResponseWriter& w) {
  if (!authorized(req, w)) return;
  try {
    const DetokenizeRequest dr = decode_detokenize_request(req.body);
    reply_model(dr.model);
    w.send(json_ok(detokenize_body(service_.detokenize(dr.tokens))));
  } catch (const RequestError& e) {
    w.send(request_error(e));
  } catch (const std::invalid_argument& e) {
    w.send(api_error(400, e.what(), "invalid_request_error", "tokens"));
  } catch (const std::logic_error& e) {
    w.send(api_error(501, e.what(), "server_error"));
  }
}

}  // namespace ember::net::openai
