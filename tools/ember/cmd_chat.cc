// `ember chat`: an interactive, multi-turn conversation through the Engine, with the model's
// own chat template. Each reply streams as it is generated; /reset starts over, /exit (or end
// of input) quits. Every turn sends the whole conversation so far (the prefix cache can reuse
// the earlier turns' KV); --show-prompt prints what each turn sends to stderr.
#include <cstdio>
#include <iostream>

#include "engine/core/error.h"
#include "engine/serve/chat_codec.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "tools/ember/backend_choice.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"
#include "tools/ember/sampling_options.h"

namespace ember::cli {

namespace {

struct ChatArgs {
  std::string model, system;
  int max_tokens = 512;
  BackendChoice backend;
  double kv_cache_gb = 0;
  SamplingParams sampling;
  uint64_t seed = 0;
  bool seeded = false;
  bool show_prompt = false;
};

void run_chat(const ChatArgs& a) {
  auto codec = ChatCodec::from_model_dir(a.model);
  if (!codec) fail("chat: {} has no tokenizer.json", a.model);
  RunnerOptions ro;
  if (a.kv_cache_gb > 0) ro.kv.gib = a.kv_cache_gb;
  ro.max_useful_tokens = 1 << 16;
  const EngineConfig ec;
  ro.limits_from(ec);  // activations sized once (CUDA graphs)
  Engine engine(open_runner(a.backend, a.model, ro).runner, ec, codec);
  SamplingParams sp = a.sampling;
  sp.max_tokens = a.max_tokens;
  validate(sp, engine.runner().vocab_size());

  std::vector<ChatMessage> history;
  if (!a.system.empty()) history.push_back({"system", a.system});
  const auto initial = history;
  std::string line;
  int turn = 0;
  for (;;) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      history = initial;
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    ChatRequest req;
    req.messages = history;
    req.sampling = sp;
    if (a.seeded) req.sampling.seed = a.seed + uint64_t(turn);
    ++turn;
    auto h = engine.submit(req);
    if (a.show_prompt) {
      std::string text;
      try {
        text = codec->render(req.messages);
      } catch (const std::exception& e) {  // the request itself then ends with the error
        text = std::string("(the template failed: ") + e.what() + ")";
      }
      // fwrite: a reply the model made may hold any byte, NUL included.
      std::fprintf(stderr, "[prompt: %d tokens]\n", h.prompt_tokens());
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fputs("\n[/prompt]\n", stderr);
      std::fflush(stderr);
    }
    std::string reply;
    while (auto e = h.next()) {
      std::fwrite(e->text.data(), 1, e->text.size(), stdout);
      std::fflush(stdout);
      reply += e->text;
      if (e->finish && *e->finish == FinishReason::Error) {
        std::fprintf(stderr, "\n[error: %s]", e->error.c_str());
        history.pop_back();
      } else if (e->finish && *e->finish != FinishReason::Stop) {
        std::fprintf(stderr, "\n[%s]", std::string(finish_reason_name(*e->finish)).c_str());
      }
    }
    std::fputs("\n", stdout);
    if (!history.empty() && history.back().role == "user") history.push_back({"assistant", reply});
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat with a model");
  cmd->add_option("--model", a->model, "Model folder, or the name of one tools/fetch-models.sh fetched")->required();
  cmd->add_option("--system", a->system, "System prompt");
  cmd->add_option("--max-tokens", a->max_tokens, "Reply length limit")->capture_default_str();
  add_sampling_options(cmd, a->sampling);
  cmd->add_option("--seed", a->seed, "Reproducible replies (turn i uses seed + i)")
      ->each([a](const std::string&) { a->seeded = true; });
  cmd->add_option("--kv-cache-gb", a->kv_cache_gb, "KV cache budget (default: half the free memory)");
  cmd->add_flag("--show-prompt", a->show_prompt,
                "Print each turn's prompt (the templated conversation so far) and its token count "
                "to stderr");
  add_backend_options(cmd, a->backend);
  cmd->callback([a] {
    a->model = resolve_model_arg(a->model);
    run_chat(*a);
  });
}

}  // namespace ember::cli
