// `ember generate`: one prompt through the Engine (the same scheduler, sampler and KV cache that
// serve validators), streamed as it is produced. A text prompt goes through the model's own chat
// template as one user message unless --raw is given.
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"
#include "engine/serve/chat_codec.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "tools/ember/backend_choice.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"

namespace ember::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string dummy_weights;  // a config name or path: random weights, no checkpoint
  std::string prompt;
  std::string prompt_ids;
  int max_tokens = 128;
  float temperature = 0.f;
  uint64_t seed = 0;
  bool seeded = false;
  bool raw = false;
  bool print_ids = false;
  BackendChoice backend;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size() || v < 0 || v > INT32_MAX)
      fail("--prompt-ids: '{}' is not a token id (expected space-separated integers)", tok);
    ids.push_back(int32_t(v));
  }
  if (ids.empty()) fail("--prompt-ids: no ids given");
  return ids;
}

void run_generate(const GenerateArgs& a) {
  if (a.max_tokens < 1) fail("generate: --max-tokens {} must be >= 1", a.max_tokens);
  if (a.temperature < 0) fail("generate: --temperature {} must be >= 0", a.temperature);

  if (a.model.empty() == a.dummy_weights.empty())
    fail("generate: give exactly one of --model and --dummy-weights");
  auto codec = a.model.empty() ? nullptr : ChatCodec::from_model_dir(a.model);
  if (!a.prompt.empty() && !codec)
    fail("generate: text prompts need the tokenizer, and {} has no tokenizer.json; use "
         "--prompt-ids",
         a.model.empty() ? a.dummy_weights : a.model);

  RunnerOptions ro;
  // One sequence: a KV cache for the model's whole context is plenty.
  ro.max_useful_tokens = 1 << 16;
  const EngineConfig ec;
  ro.limits_from(ec);  // activations sized once (CUDA graphs)
  OpenedRunner opened =
      a.model.empty() ? open_runner(a.backend, find_dummy_config(a.dummy_weights), ro, 0)
                      : open_runner(a.backend, a.model, ro);
  auto runner = std::move(opened.runner);
  const std::string runner_name = runner->name();
  const int bos = opened.config.bos_token_id;
  Engine engine(std::move(runner), ec, codec);

  ChatRequest req;
  if (!a.prompt_ids.empty()) {
    req.prompt_ids = parse_ids(a.prompt_ids);
  } else if (!a.prompt.empty() && a.raw) {
    req.prompt_ids = codec->tokenizer().encode(a.prompt, EncodeOptions{true, false});
  } else if (!a.prompt.empty()) {
    req.messages = {{"user", a.prompt}};
  } else {
    if (bos < 0) fail("generate: the model has no bos_token_id; give a prompt");
    req.prompt_ids = {bos};
  }
  req.sampling.max_tokens = a.max_tokens;
  req.sampling.temperature = a.temperature;
  if (a.seeded) req.sampling.seed = a.seed;

  const auto t0 = std::chrono::steady_clock::now();
  auto h = engine.submit(std::move(req));
  std::vector<int32_t> ids;
  FinishReason why = FinishReason::Error;
  std::string error;
  while (auto e = h.next()) {
    if (codec) {
      std::fputs(e->text.c_str(), stdout);
    } else {
      for (int32_t id : e->tokens) std::printf(ids.empty() ? "%d" : " %d", id), ids.push_back(id);
    }
    if (codec) ids.insert(ids.end(), e->tokens.begin(), e->tokens.end());
    std::fflush(stdout);
    if (e->finish) {
      why = *e->finish;
      error = e->error;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n");
  std::fflush(stdout);  // the text ends before the stderr summary when both go to one pipe
  if (why == FinishReason::Error) fail("generate: {}", error);
  if (a.print_ids) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
  }
  std::fprintf(stderr, "[%d prompt + %zu generated tokens in %.3f s, %.1f tokens/s, finish: %s, %s]\n",
               h.prompt_tokens(), ids.size(), secs, secs > 0 ? double(ids.size()) / secs : 0.0,
               std::string(finish_reason_name(why)).c_str(), runner_name.c_str());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate from one prompt (streams as it goes)");
  auto* m = cmd->add_option("--model", a->model,
                            "Model folder (config.json, *.safetensors), or the name of one "
                            "tools/fetch-models.sh fetched");
  cmd->add_option("--dummy-weights", a->dummy_weights,
                  "Random weights of a config instead of --model: a bench/configs name "
                  "(llama-3-8b) or a config.json path")
      ->excludes(m);
  auto* p = cmd->add_option("--prompt", a->prompt,
                            "Prompt text, sent as one user message through the chat template");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt token ids, e.g. \"1 2 3\"");
  p->excludes(pi);
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens to generate at most")
      ->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "0: greedy; else sample at this temperature")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Sampling seed (default: a fresh random one)")
      ->each([a](const std::string&) { a->seeded = true; });
  cmd->add_flag("--raw", a->raw, "Tokenize --prompt as it is (special tokens added), no chat template");
  cmd->add_flag("--print-ids", a->print_ids, "Print the generated ids on one line at the end");
  add_backend_options(cmd, a->backend);
  cmd->callback([a] {
    a->model = resolve_model_arg(a->model);
    run_generate(*a);
  });
}

}  // namespace ember::cli
