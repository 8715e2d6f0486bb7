// `ember generate`: one prompt, one sequence, on the CPU backend, streamed as it is produced.
// A simple loop (engine/model/generate.h) until the serving engine's scheduler lands.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/generate.h"
#include "engine/text/tokenizer.h"
#include "tools/ember/commands.h"

namespace ember::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string prompt_ids;
  int max_tokens = 128;
  float temperature = 0.f;
  uint64_t seed = 0;
  bool raw = false;
  bool print_ids = false;
  int threads = 0;
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
  if (!a.prompt.empty() && !a.prompt_ids.empty())
    fail("generate: give --prompt or --prompt-ids, not both");
  if (a.max_tokens < 0) fail("generate: --max-tokens {} must be >= 0", a.max_tokens);
  if (a.temperature < 0) fail("generate: --temperature {} must be >= 0", a.temperature);

  std::optional<Tokenizer> tok;
  if (std::filesystem::exists(std::filesystem::path(a.model) / "tokenizer.json"))
    tok = Tokenizer::load(a.model);
  if (!a.prompt.empty() && !tok)
    fail("generate: text prompts need the tokenizer, and {} has no tokenizer.json; use "
         "--prompt-ids",
         a.model);

  auto backend = make_cpu_backend(a.threads);
  LoadedModel m = load_model(a.model, *backend);

  std::vector<int32_t> prompt;
  if (!a.prompt_ids.empty()) {
    prompt = parse_ids(a.prompt_ids);
  } else if (!a.prompt.empty()) {
    // The text goes in as written (no chat template is applied by this command yet).
    prompt = tok->encode(a.prompt, EncodeOptions{true, false});
  } else {
    if (m.cfg.bos_token_id < 0) fail("generate: the model has no bos_token_id; give a prompt");
    prompt = {m.cfg.bos_token_id};
  }
  if (prompt.empty()) fail("generate: the prompt encodes to no tokens");

  GenerateOptions o;
  o.max_tokens = a.max_tokens;
  o.temperature = a.temperature;
  o.seed = a.seed;
  o.stop_ids = m.cfg.eos_token_ids;
  if (tok)
    for (int32_t id : tok->eos_ids()) o.stop_ids.push_back(id);

  std::unique_ptr<StreamDecoder> dec;
  if (tok) dec = std::make_unique<StreamDecoder>(*tok, DecodeOptions{true});
  bool first = true;
  const auto t0 = std::chrono::steady_clock::now();
  GenerateResult r = generate(*m.model, prompt, o, [&](int32_t id) {
    if (dec) {
      std::fputs(dec->push(id).c_str(), stdout);
    } else {
      std::printf(first ? "%d" : " %d", id);
    }
    first = false;
    std::fflush(stdout);
    return true;
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (dec) std::fputs(dec->flush().c_str(), stdout);
  std::printf("\n");
  if (a.print_ids) {
    for (size_t i = 0; i < r.ids.size(); ++i) std::printf(i ? " %d" : "%d", r.ids[i]);
    std::printf("\n");
  }
  const char* why = r.finish == GenerateResult::Finish::Stop ? "stop" : "length";
  std::fprintf(stderr, "[%zu prompt + %zu generated tokens in %.3f s, %.1f tokens/s, finish: %s, %s]\n",
               prompt.size(), r.ids.size(), secs, secs > 0 ? double(r.ids.size()) / secs : 0.0,
               why, backend->name().c_str());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate from one prompt on the CPU (streams tokens)");
  cmd->add_option("--model", a->model, "Model folder (config.json, *.safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* p = cmd->add_option("--prompt", a->prompt, "Prompt text (needs tokenizer.json)");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt token ids, e.g. \"1 2 3\"");
  p->excludes(pi);
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens to generate at most")
      ->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "0: greedy; else sample at this temperature")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--raw", a->raw, "Use the prompt text as is (no chat template; the only mode today)");
  cmd->add_flag("--print-ids", a->print_ids, "Print the generated ids on one line at the end");
  cmd->add_option("--threads", a->threads, "CPU threads (0: all)")->capture_default_str();
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ember::cli
