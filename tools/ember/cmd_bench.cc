// `ember bench`: an offline serving workload through the Engine. C closed-loop clients each
// submit the next prompt of a JSONL file (a "prompt" field per line) as a chat message and read
// its stream; reports throughput, TTFT and inter-token latency percentiles, KV-cache use and the
// prefix-cache hit rate, and with --json writes them as one JSON object. --concurrency 1,16 runs
// the same requests at each level in one process (one model load, a fresh engine and prefix
// cache per level) and reports how throughput scales.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"
#include "engine/model/json_write.h"
#include "engine/serve/chat_codec.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "tools/ember/backend_choice.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"

namespace ember::cli {

namespace {

struct BenchArgs {
  std::string model, prompts, json_out;
  std::string dummy_weights, tokenizer;  // --dummy-weights needs --tokenizer
  BackendChoice backend;
  std::vector<int> concurrency = {1};
  int requests = 64, max_tokens = 128;
  int max_prompt_tokens = 1024, max_batched_tokens = 512, block_size = 16;
  double kv_cache_gb = 0;
  float temperature = 0.8f, top_p = 1.f;
  int top_k = 0, logprobs = -1;
  uint64_t seed = 1;
  bool ignore_eos = false;
  std::string async_scheduling = "on";
};

std::vector<std::string> load_prompts(const std::string& path, size_t want) {
  std::ifstream f(path);
  if (!f) fail("--prompts: cannot open {}", path);
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  std::string line;
  for (int lineno = 1; std::getline(f, line) && out.size() < want; ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc))
      fail("{}:{}: not valid JSON", path, lineno);
    std::string_view prompt;
    if (doc["prompt"].get_string().get(prompt))
      fail("{}:{}: no string field \"prompt\"", path, lineno);
    out.emplace_back(prompt);
  }
  if (out.empty()) fail("--prompts: {} holds no prompts", path);
  return out;
}

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};

Percentiles percentiles(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))]; };
  return {at(0.5), at(0.9), at(0.99)};
}

std::string pjson(const Percentiles& p) {
  return fmt::format("{{\"p50\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}}}", p.p50, p.p90, p.p99);
}

struct LevelResult {
  int concurrency = 0;
  double secs = 0, rps = 0, otps = 0, ttps = 0, kv_peak = 0, hit_rate = 0;
  int64_t in_tokens = 0, out_tokens = 0, preemptions = 0;
  int kv_blocks_total = 0;
  int64_t steps = 0;       // engine steps (forward passes) in the timed part
  double forward_s = 0;    // time in the runner (forward pass and draws); the rest is the host's
  Percentiles ttft, itl;
};

// One level: `concurrency` closed-loop clients run every prompt once through a fresh engine
// (so no level inherits another's prefix cache).
LevelResult run_level(const BenchArgs& a, int concurrency,
                      const std::shared_ptr<ModelRunner>& runner,
                      const std::shared_ptr<ChatCodec>& codec,
                      const std::vector<std::vector<int32_t>>& prompts) {
  EngineConfig cfg;
  cfg.max_num_seqs = std::max(concurrency, 1);
  cfg.max_batched_tokens = a.max_batched_tokens;
  cfg.async_scheduling = a.async_scheduling == "on";
  Engine engine(runner, cfg, codec);
  auto make_request = [&](int i) {
    ChatRequest r;
    r.prompt_ids = prompts[size_t(i)];
    r.sampling.max_tokens = a.max_tokens;
    r.sampling.temperature = a.temperature;
    r.sampling.top_p = a.top_p;
    r.sampling.top_k = a.top_k;
    r.sampling.logprobs = a.logprobs;
    r.sampling.seed = a.seed + uint64_t(i);
    r.sampling.ignore_eos = a.ignore_eos;
    return r;
  };
  {  // warm-up: page in the weights and size the scratch buffers
    auto w = make_request(0);
    // Not request 0's own prompt: its blocks would sit in the prefix cache, and its TTFT
    // would time a cache hit. One id repeated shares no block with a real prompt.
    if (!w.prompt_ids.empty())
      w.prompt_ids.assign(std::min<size_t>(64, w.prompt_ids.size()), w.prompt_ids[0]);
    w.sampling.max_tokens = 2;
    engine.submit(w).wait();
  }
  const auto warm = engine.wait_idle();

  std::mutex mu;
  std::vector<double> ttft_ms, itl_ms;
  int64_t out_tokens = 0, in_tokens = 0, errors = 0;
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c)
    clients.emplace_back([&] {
      for (int i; (i = next++) < a.requests;) {
        const auto start = Clock::now();
        auto h = engine.submit(make_request(i));
        std::optional<Clock::time_point> last;
        std::vector<double> itl;
        double ttft = -1;
        int64_t n = 0;
        bool err = false;
        while (auto e = h.next()) {
          if (e->finish && *e->finish == FinishReason::Error) err = true;
          if (e->tokens.empty()) continue;
          n += int64_t(e->tokens.size());
          if (!last) ttft = std::chrono::duration<double, std::milli>(e->time - start).count();
          else itl.push_back(std::chrono::duration<double, std::milli>(e->time - *last).count());
          last = e->time;
        }
        std::lock_guard lock(mu);
        if (err) ++errors;
        if (ttft >= 0) ttft_ms.push_back(ttft);
        itl_ms.insert(itl_ms.end(), itl.begin(), itl.end());
        out_tokens += n;
        in_tokens += int64_t(prompts[size_t(i)].size());
      }
    });
  for (auto& t : clients) t.join();
  LevelResult r;
  r.concurrency = concurrency;
  r.secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto st = engine.wait_idle();
  if (errors) fail("bench: {} of {} requests ended with an error", errors, a.requests);

  r.ttft = percentiles(ttft_ms);
  r.itl = percentiles(itl_ms);
  r.in_tokens = in_tokens;
  r.out_tokens = out_tokens;
  r.rps = a.requests / r.secs;
  r.otps = double(out_tokens) / r.secs;
  r.ttps = double(out_tokens + in_tokens) / r.secs;
  r.kv_blocks_total = st.kv_blocks_total;
  r.kv_peak = double(st.kv_blocks_peak) / std::max(1, st.kv_blocks_total);
  r.preemptions = st.preemptions - warm.preemptions;
  r.steps = st.steps - warm.steps;
  r.forward_s = st.step_time_sum_s - warm.step_time_sum_s;
  const int64_t queried = st.prefix_queried_tokens - warm.prefix_queried_tokens;
  r.hit_rate =
      queried > 0 ? double(st.prefix_hit_tokens - warm.prefix_hit_tokens) / double(queried) : 0;
  return r;
}

void print_level(const BenchArgs& a, const LevelResult& r) {
  std::printf("requests         %d at concurrency %d, max_tokens %d, %.2f s\n", a.requests,
              r.concurrency, a.max_tokens, r.secs);
  std::printf("tokens           %lld prompt, %lld output\n", (long long)r.in_tokens,
              (long long)r.out_tokens);
  std::printf("throughput       %.3f req/s, %.1f output tok/s, %.1f total tok/s\n", r.rps, r.otps,
              r.ttps);
  std::printf("TTFT ms          p50 %.1f  p90 %.1f  p99 %.1f\n", r.ttft.p50, r.ttft.p90, r.ttft.p99);
  std::printf("ITL ms           p50 %.1f  p90 %.1f  p99 %.1f\n", r.itl.p50, r.itl.p90, r.itl.p99);
  std::printf("KV cache         peak %.1f%% of %d blocks of %d tokens; %lld preemptions\n",
              100 * r.kv_peak, r.kv_blocks_total, a.block_size, (long long)r.preemptions);
  std::printf("prefix cache     %.1f%% of prompt tokens reused\n", 100 * r.hit_rate);
  std::printf("engine           %lld steps, %.1f ms each in the runner (forward and draws), %.0f%% of the run\n",
              (long long)r.steps, r.steps ? 1e3 * r.forward_s / double(r.steps) : 0.0,
              r.secs > 0 ? 100 * r.forward_s / r.secs : 0.0);
  std::fflush(stdout);
}

void run_bench(const BenchArgs& a) {
  for (int c : a.concurrency)
    if (c < 1) fail("--concurrency {} must be >= 1", c);
  if (a.concurrency.empty()) fail("--concurrency: give at least one level");
  if (a.requests < 1) fail("--requests {} must be >= 1", a.requests);
  if (a.max_tokens < 1) fail("--max-tokens {} must be >= 1", a.max_tokens);
  if (a.model.empty() == a.dummy_weights.empty())
    fail("bench: give exactly one of --model and --dummy-weights");
  const std::string tok_dir = a.tokenizer.empty() ? a.model : a.tokenizer;
  if (tok_dir.empty()) fail("bench: --dummy-weights needs --tokenizer DIR (a tokenizer.json)");
  auto codec = ChatCodec::from_model_dir(tok_dir);
  if (!codec) fail("bench: {} has no tokenizer.json; the prompts are text", tok_dir);
  const auto texts = load_prompts(a.prompts, size_t(a.requests));
  const int max_concurrency = *std::max_element(a.concurrency.begin(), a.concurrency.end());

  RunnerOptions ro;
  ro.block_size = a.block_size;
  if (a.kv_cache_gb > 0) ro.kv.gib = a.kv_cache_gb;
  ro.max_useful_tokens =
      int64_t(max_concurrency) * (a.max_prompt_tokens + a.max_tokens + a.block_size);
  // Activations sized once for the largest level, so CUDA graphs captured early stay valid.
  ro.max_batched_tokens = a.max_batched_tokens;
  ro.max_num_seqs = max_concurrency;
  // With --dummy-weights, the config.json the random weights were made from.
  const std::string dummy_config = a.model.empty() ? find_dummy_config(a.dummy_weights) : "";
  const std::shared_ptr<ModelRunner> runner =
      a.model.empty() ? open_runner(a.backend, dummy_config, ro, 0).runner
                      : open_runner(a.backend, a.model, ro).runner;
  if (codec->tokenizer().vocab_size() > size_t(runner->vocab_size()))
    fail("bench: the tokenizer has {} ids, the model's vocab {}", codec->tokenizer().vocab_size(),
         runner->vocab_size());

  // Tokenize up front so the timed part measures serving only; prompts are cut to fit.
  const int max_prompt =
      std::min(a.max_prompt_tokens, runner->max_context() - a.max_tokens - 1);
  if (max_prompt < 1) fail("bench: --max-tokens {} leaves no room for a prompt", a.max_tokens);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < a.requests; ++i) {
    auto ids = codec->encode_chat({{"user", texts[size_t(i) % texts.size()]}});
    if (int(ids.size()) > max_prompt) ids.resize(size_t(max_prompt));
    prompts.push_back(std::move(ids));
  }

  if (a.model.empty())
    std::printf("model            random weights of %s, tokenizer %s (%s)\n", dummy_config.c_str(),
                tok_dir.c_str(), runner->name().c_str());
  else
    std::printf("model            %s (%s)\n", a.model.c_str(), runner->name().c_str());
  std::vector<LevelResult> results;
  for (int c : a.concurrency) {
    results.push_back(run_level(a, c, runner, codec, prompts));
    print_level(a, results.back());
  }
  if (results.size() > 1) {
    std::printf("scaling          output tok/s relative to concurrency %d:",
                results.front().concurrency);
    for (const auto& r : results)
      std::printf("  c%d %.2fx", r.concurrency, r.otps / results.front().otps);
    std::printf("\n");
  }

  if (!a.json_out.empty()) {
    // The model and every setting that shaped the run, then the figures. With --dummy-weights
    // "model" is the config.json the random weights were made from and "dummy_weights" the
    // argument (null otherwise); "kv_cache_gb" 0 and "threads" 0 are the defaults (half the free
    // memory, every core), "kv_cache_blocks" and "backend" what they came to.
    auto level_json = [&](const LevelResult& r) {
      const std::string settings = fmt::format(
          "\"model\": {}, \"dummy_weights\": {}, \"tokenizer\": {}, "
          "\"backend\": {}, \"backend_requested\": {}, \"threads\": {}, "
          "\"gpu_memory_fraction\": {}, \"kv_cache_gb\": {}, \"kv_cache_dtype\": {}, "
          "\"tensor_parallel\": {}, \"seed\": {}, \"prompts\": {}, "
          "\"concurrency\": {}, \"requests\": {}, \"max_tokens\": {}, \"max_prompt_tokens\": {}, "
          "\"temperature\": {}, \"top_p\": {}, \"top_k\": {}, \"logprobs\": {}, "
          "\"async_scheduling\": {}, \"ignore_eos\": {}, \"max_batched_tokens\": {}, "
          "\"block_size\": {}",
          json::quote(a.model.empty() ? dummy_config : a.model),
          a.model.empty() ? json::quote(a.dummy_weights) : "null", json::quote(tok_dir),
          json::quote(runner->name()), json::quote(a.backend.name), a.backend.threads,
          a.backend.gpu_memory_fraction, a.kv_cache_gb, json::quote(a.backend.kv_cache_dtype),
          a.backend.tensor_parallel, a.seed, json::quote(a.prompts),
          r.concurrency, a.requests, a.max_tokens, a.max_prompt_tokens, a.temperature, a.top_p,
          a.top_k, a.logprobs, a.async_scheduling == "on", a.ignore_eos, a.max_batched_tokens,
          a.block_size);
      return fmt::format(
          "{{{}, \"kv_cache_blocks\": {}, "
          "\"duration_s\": {:.4f}, \"prompt_tokens\": {}, \"output_tokens\": {}, "
          "\"requests_per_s\": {:.4f}, \"output_tokens_per_s\": {:.3f}, "
          "\"total_tokens_per_s\": {:.3f}, \"ttft_ms\": {}, \"itl_ms\": {}, "
          "\"kv_cache_peak_fraction\": {:.4f}, \"prefix_cache_hit_rate\": {:.4f}, "
          "\"preemptions\": {}, \"steps\": {}, \"forward_s\": {:.4f}}}",
          settings, r.kv_blocks_total, r.secs, r.in_tokens, r.out_tokens, r.rps, r.otps, r.ttps,
          pjson(r.ttft), pjson(r.itl), r.kv_peak, r.hit_rate, r.preemptions, r.steps,
          r.forward_s);
    };
    // One level: that level's object. Several: {"runs": [...], "output_tokens_per_s_ratio":
    // {"16": x, ...}} with each level's throughput over the first level's.
    std::string j;
    if (results.size() == 1) {
      j = level_json(results[0]) + "\n";
    } else {
      std::string runs, ratios;
      for (const auto& r : results) {
        runs += (runs.empty() ? "" : ", ") + level_json(r);
        ratios += fmt::format("{}\"{}\": {:.4f}", ratios.empty() ? "" : ", ", r.concurrency,
                              r.otps / results.front().otps);
      }
      j = fmt::format("{{\"runs\": [{}], \"output_tokens_per_s_ratio\": {{{}}}}}\n", runs, ratios);
    }
    std::ofstream f(a.json_out);
    if (!(f << j)) fail("--json: cannot write {}", a.json_out);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Offline serving benchmark through the engine");
  auto* m = cmd->add_option("--model", a->model, "Model folder, or the name of one tools/fetch-models.sh fetched");
  cmd->add_option("--dummy-weights", a->dummy_weights,
                  "Random weights of a config instead of --model: a bench/configs name "
                  "(llama-3-8b) or a config.json path")
      ->excludes(m);
  cmd->add_option("--tokenizer", a->tokenizer, "Folder with tokenizer.json (default: --model)");
  cmd->add_option("--prompts", a->prompts, "JSONL file with a \"prompt\" field per line")
      ->required();
  cmd->add_option("--concurrency", a->concurrency,
                  "Requests in flight; a list (1,16) runs the same requests at each level")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--requests", a->requests, "Requests to run")->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "Output tokens per request")->capture_default_str();
  cmd->add_option("--json", a->json_out, "Write the results as one JSON object to this file");
  cmd->add_option("--kv-cache-gb", a->kv_cache_gb, "KV cache budget (default: half the free memory)");
  add_backend_options(cmd, a->backend);
  cmd->add_option("--max-prompt-tokens", a->max_prompt_tokens, "Prompts are cut to this length")
      ->capture_default_str();
  cmd->add_option("--max-batched-tokens", a->max_batched_tokens, "Token budget of one step")
      ->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", a->top_k, "Draw from the k most likely tokens (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--logprobs", a->logprobs,
                  "Log-probabilities of each token and this many alternatives (-1: none), as "
                  "validators ask for them")
      ->capture_default_str()
      ->check(CLI::Range(-1, 20));
  cmd->add_option("--async-scheduling", a->async_scheduling,
                  "Build each step while the one before runs (off: one step at a time)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--seed", a->seed, "Request i uses seed + i")->capture_default_str();
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Always generate --max-tokens tokens");
  cmd->callback([a] {
    a->model = resolve_model_arg(a->model);
    run_bench(*a);
  });
}

}  // namespace ember::cli
