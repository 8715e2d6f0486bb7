// `ember serve`: the miner. One port answers the axon synapses, the OpenAI-compatible API,
// /health and /metrics, over the Engine. Flags override an optional TOML file (keys = flag
// names without the dashes). SIGINT/SIGTERM drain and exit 0; SIGHUP reloads the access lists.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/core/error.h"
#include "engine/model/config.h"
#include "engine/serve/chat_codec.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "net/auth/access_policy.h"
#include "net/auth/wallet.h"
#include "net/axon/axon_auth.h"
#include "net/axon/miner_server.h"
#include "net/crypto/sr25519.h"
#include "net/openai/v1_access.h"
#include "tools/ember/backend_choice.h"
#include "tools/ember/commands.h"
#include "tools/ember/demo_model.h"
#include "tools/ember/encoder_embedding_service.h"
#include "tools/ember/engine_completion_service.h"
#include "tools/ember/model_names.h"
#include "tools/ember/sampling_options.h"
#include "tools/ember/served_names.h"
#include "tools/ember/serve_config.h"
#include "tools/ember/unique_options.h"

namespace ember::cli {

namespace {

namespace fs = std::filesystem;

// The part of --deadline-margin-ms the engine keeps (when the margin is at least this long).
constexpr std::chrono::milliseconds kEngineDeadlineMargin{50};

struct ServeArgs {
  std::string model, config;
  std::string embedding_model;  // --embedding-model: also serve POST /v1/embeddings
  // --served-model-name (vLLM's; --model-name is the old spelling): empty = the defaults.
  std::vector<std::string> served_names;
  bool accept_any_model = false;
  int max_model_len = 0;     // 0: the model's context
  int max_logprobs = 20;
  std::string logprobs_mode = "raw_logprobs";
  int top_k_cap = 0;
  int64_t seed = -1;         // -1: a fresh seed per request
  bool prefix_caching = true;  // accepted for vLLM's flag; always on
  std::string host = "0.0.0.0";
  int port = 8091;
  net::auth::WalletLocation wallet = net::auth::WalletLocation::defaults();
  std::string allow_file, block_file, metagraph_file;
  double min_stake = 0;
  bool require_permit = false;
  BackendChoice backend;
  int io_threads = 1, workers = 64, max_connections = 1024, max_batch = 256;
  std::string async_scheduling = "on";
  double kv_cache_gb = 0;
  std::string api_key;
  // Who may call /v1/* ("" = default_v1_access) and the tasks /availability claims.
  std::string v1_access;
  std::vector<std::string> tasks = {"InferenceTask"};
  int max_tokens = 512;
  double grace_s = 5;
  // How long before a caller's timeout a reply must be complete (see --deadline-margin-ms).
  int deadline_margin_ms = 500;
  // Sampling for requests that do not set it (validators never do).
  SamplingParams sampling;
  int stats_interval_s = 60;
  // Unique replies for the axon (styles, best-of-n, upstream); off unless asked for.
  UniqueArgs unique;
};

template <typename... Args>
void log(fmt::format_string<Args...> f, Args&&... args) {
  char ts[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::fprintf(stderr, "%s ember serve: %s\n", ts, fmt::format(f, std::forward<Args>(args)...).c_str());
  std::fflush(stderr);
}

net::auth::Hotkey load_wallet_hotkey(const net::auth::WalletLocation& w) {
  const fs::path file = w.hotkey_file();
  if (!fs::exists(file))
    fail("no hotkey at {}. Create one with `ember key new --wallet.path {} --wallet.name {} --wallet.hotkey {}` "
         "(or point --wallet.path/--wallet.name/--wallet.hotkey at an existing bittensor wallet)",
         file.string(), w.path, w.name, w.hotkey);
  return net::auth::load_hotkey(file);
}

net::auth::Hotkey ephemeral_demo_hotkey(const net::auth::WalletLocation& w) {
  const net::auth::Hotkey hk = net::auth::hotkey_from_seed(net::crypto::random_mini_secret());
  log("no hotkey at {}: the demo runs with a throwaway hotkey {} (gone when it stops; "
      "`ember key new` makes a lasting one)",
      w.hotkey_file().string(), hk.ss58());
  return hk;
}

void loud_demo_notice(const std::string& dir) {
  std::fprintf(stderr,
               "\n"
               "  ************************************************************************\n"
               "  *  NO --model GIVEN: SERVING THE BUILT-IN DEMO MODEL.                  *\n"
               "  *  ITS WEIGHTS ARE RANDOM: EVERY REPLY IS GIBBERISH.                   *\n"
               "  *  It only shows that the server works. For real answers pass          *\n"
               "  *  --model DIR with a Hugging Face model folder.                       *\n"
               "  ************************************************************************\n"
               "  demo model folder: %s\n\n",
               dir.c_str());
  std::fflush(stderr);
}

std::string v1_access_banner(net::openai::V1Access mode, const std::string& hotkey) {
  switch (mode) {
    case net::openai::V1Access::Open: return "open: anyone may call /v1";
    case net::openai::V1Access::ApiKey: return "api-key: Authorization: Bearer <--api-key>";
    case net::openai::V1Access::Epistula:
      return fmt::format("epistula: requests signed for {} by an admitted validator", hotkey);
    case net::openai::V1Access::Either:
      return fmt::format("either: Epistula signed for {}, or Authorization: Bearer <--api-key>", hotkey);
  }
  return "?";
}

std::string model_name_of(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// Signals are taken synchronously by the main thread: blocked here, before any thread exists,
// so every thread inherits the mask and none is interrupted.
sigset_t block_serve_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void run_serve(ServeArgs a) {
  const sigset_t signals = block_serve_signals();

  // Cheap checks first: a missing hotkey or a bad list should not wait for a model to load.
  const bool demo = a.model.empty();
  // The demo (no --model) must start on a fresh machine with one command, so a missing wallet
  // gets a throwaway hotkey for this run; a real miner always names its wallet's hotkey.
  const bool throwaway_hotkey = demo && !fs::exists(a.wallet.hotkey_file());
  const net::auth::Hotkey hk = throwaway_hotkey ? ephemeral_demo_hotkey(a.wallet) : load_wallet_hotkey(a.wallet);
  // A wallet's hotkey means validators call this miner: /v1 then wants their signatures.
  net::openai::V1AccessConfig v1;
  v1.mode = net::openai::default_v1_access(!throwaway_hotkey, !a.api_key.empty());
  if (!a.v1_access.empty()) v1.mode = *net::openai::parse_v1_access(a.v1_access);  // the flag checked it
  v1.api_key = a.api_key;
  v1.my_hotkey = hk.ss58();
  net::openai::validate(v1);
  check_unique_args(a.unique);
  std::unique_ptr<net::auth::AccessPolicy> policy;
  if (!a.allow_file.empty() || !a.block_file.empty() || !a.metagraph_file.empty() || a.require_permit ||
      a.min_stake > 0) {
    net::auth::AccessPolicyConfig pc;
    pc.allow_file = a.allow_file;
    pc.block_file = a.block_file;
    pc.metagraph_file = a.metagraph_file;
    pc.require_validator_permit = a.require_permit;
    pc.min_stake = a.min_stake;
    policy = std::make_unique<net::auth::AccessPolicy>(pc);
  }

  std::string model_dir = a.model;
  if (demo) {
    model_dir = ensure_demo_model();
    loud_demo_notice(model_dir);
  }
  auto codec = ChatCodec::from_model_dir(model_dir);
  if (!codec) fail("serve: {} has no tokenizer.json (the server needs the model's tokenizer)", model_dir);
  RunnerOptions ro;
  if (a.kv_cache_gb > 0) ro.kv.gib = a.kv_cache_gb;
  else if (demo) ro.kv.gib = 0.25;  // the demo needs little; half the free memory would be absurd
  // No point caching more than every sequence of a full batch at the model's context length.
  const int max_ctx = load_model_config(model_dir).max_position_embeddings;
  int useful_ctx = max_ctx > 0 ? std::min(max_ctx, 32768) : 32768;
  if (a.max_model_len > 0) useful_ctx = std::min(useful_ctx, a.max_model_len);
  ro.max_useful_tokens = int64_t(a.max_batch) * useful_ctx;
  // The margin is split: the engine keeps a small part to end a request and hand its last
  // tokens out (it also allows one estimated step on top), the axon the rest, which it takes
  // off the caller's timeout (at most a quarter of that timeout) to set the request's deadline.
  const auto margin = std::chrono::milliseconds(a.deadline_margin_ms);
  const auto engine_margin = std::min(margin, kEngineDeadlineMargin);
  EngineConfig ec;
  ec.max_num_seqs = a.max_batch;
  ec.deadline_margin = engine_margin;
  ec.async_scheduling = a.async_scheduling == "on";
  ro.limits_from(ec);  // activations sized once (CUDA graphs)
  auto runner = open_runner(a.backend, model_dir, ro).runner;
  const int kv_blocks = runner->num_kv_blocks(), block_size = runner->kv_block_size();
  Engine engine(runner, ec, codec);

  CompletionServiceOptions so;
  so.served_model_names = !a.served_names.empty() ? a.served_names
                          : demo                  ? std::vector<std::string>{"ember-demo"}
                                                  : default_served_names(model_dir, model_name_of(model_dir));
  so.model_name = so.served_model_names.front();
  so.max_model_len = a.max_model_len;
  so.max_logprobs = a.max_logprobs;
  so.top_k_cap = a.top_k_cap;
  so.logprobs_mode = a.logprobs_mode == "processed_logprobs" ? SamplingParams::LogprobsMode::Processed
                                                              : SamplingParams::LogprobsMode::Raw;
  if (a.seed >= 0) a.sampling.seed = static_cast<uint64_t>(a.seed);
  so.default_max_tokens = a.max_tokens;
  so.defaults = a.sampling;
  try {
    validate(so.defaults, runner->vocab_size());
  } catch (const Error& e) {
    fail("serve: sampling defaults: {}", e.what());
  }
  EngineCompletionService svc(engine, so);
  // The axon may get best-of-n; /v1 always gets the plain service (exact logprobs).
  UniqueSetup uniq = make_unique_setup(a.unique, svc, codec.get(), [](const std::string& line) { log("{}", line); });

  std::unique_ptr<EncoderEmbeddingService> embeddings;
  if (!a.embedding_model.empty())
    embeddings = std::make_unique<EncoderEmbeddingService>(SentenceEncoder::open(a.embedding_model));
  net::MinerServerOptions o;
  o.http.host = a.host;
  o.http.port = static_cast<uint16_t>(a.port);
  o.http.io_threads = a.io_threads;
  o.http.worker_threads = a.workers;
  o.http.max_connections = static_cast<size_t>(a.max_connections);
  net::axon::AxonAuth axon_auth(hk.ss58(), policy.get());
  o.axon.hotkey = hk.ss58();
  o.axon.authenticate = axon_auth.authenticator();
  o.axon.sign = net::axon::make_signer(hk.keypair);
  o.axon.default_max_tokens = a.max_tokens;
  o.axon.deadline_margin_s = std::chrono::duration<double>(margin - engine_margin).count();
  v1.policy = policy.get();  // the axon's: one metagraph, one allow list, one SIGHUP
  o.openai.authorize = net::openai::make_v1_authorizer(v1);
  o.openai.default_max_tokens = a.max_tokens;
  o.openai.accept_any_model = a.accept_any_model;
  // X-Client-Timeout is the /v1 caller's timeout, as the synapse's is the axon's: same margin.
  o.openai.deadline_margin_s = o.axon.deadline_margin_s;
  o.tasks = a.tasks;
  o.embeddings = embeddings.get();
  net::MinerServer server(o, svc, uniq.service.get());
  if (uniq.service)
    uniq.service->set_on_style([&server](std::string_view s, bool chosen) { server.metrics().observe_style(s, chosen); });
  server.start();
  if (embeddings)
    log("POST /v1/embeddings: {} ({}-dimensional, from {})", embeddings->model_name(), embeddings->dim(),
        a.embedding_model);

  std::fprintf(stderr,
               "ember serve\n"
               "  model      %s%s\n"
               "  hotkey     %s\n"
               "  kv cache   %d blocks x %d tokens\n"
               "  access     %s\n"
               "  /v1 access %s\n"
               "  unique     %s\n"
               "  deadline   replies end %d ms before the caller's timeout (axon %lld ms, engine %lld ms "
               "+ one step)\n",
               model_dir.c_str(), demo ? " (DEMO: random weights, gibberish)" : "", hk.ss58().c_str(), kv_blocks,
               block_size, policy ? "allow/block lists or metagraph (SIGHUP reloads)" : "any signed caller",
               v1_access_banner(v1.mode, hk.ss58()).c_str(),
               uniq.service ? uniq.banner.c_str() : "off (every reply as sampled; --styles / --best-of for the synapse validators)",
               a.deadline_margin_ms,
               static_cast<long long>((margin - engine_margin).count()), static_cast<long long>(engine_margin.count()));
  log("listening on http://{}:{} (axon /Prompting /StreamPromptingSynapse, /v1/chat/completions, "
      "/v1/completions, /v1/models, /tokenize, /detokenize, /version, /availability, /health, /metrics); "
      "model names: {}",
      a.host, server.port(), fmt::join(so.served_model_names, ", "));

  for (;;) {
    timespec wait{a.stats_interval_s > 0 ? a.stats_interval_s : 3600, 0};
    siginfo_t info;
    const int sig = sigtimedwait(&signals, &info, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      log("{}: stopping (grace {} s)", sig == SIGINT ? "SIGINT" : "SIGTERM", a.grace_s);
      break;
    }
    if (sig == SIGHUP) {
      if (!policy) {
        log("SIGHUP: no allow/block list or metagraph configured, nothing to reload");
        continue;
      }
      try {
        policy->reload();
        log("SIGHUP: access lists reloaded");
      } catch (const std::exception& e) {
        log("SIGHUP: reload failed, keeping the previous lists: {}", e.what());
      }
      continue;
    }
    if (sig < 0 && a.stats_interval_s > 0) {
      const net::EngineStats s = svc.stats();
      log("running {} waiting {} kv {}/{} blocks, {} prompt + {} generated tokens", s.running, s.queue_depth,
          s.kv_blocks_used, s.kv_blocks_total, s.prompt_tokens_total, s.generated_tokens_total);
    }
  }
  server.stop(std::chrono::milliseconds(static_cast<int64_t>(a.grace_s * 1000)));
  log("stopped");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Run the miner: axon + OpenAI-compatible API on one port");
  cmd->add_option("--model", a->model, "Model folder, or the name of one tools/fetch-models.sh fetched (default: a built-in random demo model)");
  cmd->add_option("--embedding-model", a->embedding_model,
                  "Also serve POST /v1/embeddings (OpenAI format) with this sentence-transformers encoder: a "
                  "folder, or all-minilm-l6-v2 / all-mpnet-base-v2 once fetched");
  cmd->add_option("--served-model-name,--model-name", a->served_names,
                  "Names a request's `model` may use, the first shown first by /v1/models (default: the "
                  "folder's name and the Hugging Face id its config.json records as _name_or_path)");
  cmd->add_flag("--accept-any-model", a->accept_any_model,
                "Answer a /v1 request whatever `model` it names (default: 404 for a name not served, as vLLM)");
  cmd->add_option("--max-model-len", a->max_model_len,
                  "Prompt + completion tokens of one request; longer prompts or max_tokens get a 400 (default: "
                  "the model's context length)")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--max-logprobs", a->max_logprobs, "Most top_logprobs (chat) or logprobs (completions) a request may ask for")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--top-k-cap", a->top_k_cap,
                  "Every request draws from at most the N most likely tokens (a larger or absent top_k "
                  "becomes N; 0: off). At N <= the top_logprobs validators ask for (10), every streamed "
                  "token is in its own top list, which their `contains` check requires")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--logprobs-mode", a->logprobs_mode,
                  "raw_logprobs: log-softmax of the model's logits; processed_logprobs: after the request's "
                  "logit_bias, penalties and temperature (vLLM's names)")
      ->capture_default_str()
      ->check(CLI::IsMember({"raw_logprobs", "processed_logprobs"}));
  cmd->add_option("--seed", a->seed, "Seed for requests that give none (default: a fresh one per request)")
      ->check(CLI::Range(int64_t(0), std::numeric_limits<int64_t>::max()));
  cmd->add_flag("--enable-prefix-caching", a->prefix_caching,
                "Accepted for vLLM's flag: ember's prefix cache is always on");
  cmd->add_option("--config", a->config, "TOML file; keys are the flag names (flags win)");
  cmd->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", a->port, "Port (0: any free port, printed at startup)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--wallet.path", a->wallet.path, "Wallet folder (env BT_WALLET_PATH)")->capture_default_str();
  cmd->add_option("--wallet.name", a->wallet.name, "Wallet name (env BT_WALLET_NAME)")->capture_default_str();
  cmd->add_option("--wallet.hotkey", a->wallet.hotkey, "Hotkey name (env BT_WALLET_HOTKEY)")->capture_default_str();
  cmd->add_option("--allow-hotkeys", a->allow_file, "File of SS58 hotkeys allowed to call (one a line)");
  cmd->add_option("--block-hotkeys", a->block_file, "File of SS58 hotkeys refused");
  cmd->add_option("--metagraph", a->metagraph_file, "Metagraph snapshot JSON: callers must be registered");
  cmd->add_option("--min-stake", a->min_stake, "Minimum stake of a caller (with --metagraph)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--require-permit", a->require_permit, "Only validators with a permit (with --metagraph)");
  add_backend_options(cmd, a->backend);
  cmd->add_option("--io-threads", a->io_threads, "HTTP I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--workers", a->workers, "Requests handled at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-connections", a->max_connections, "Open connections (beyond: 503)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--kv-cache-gb", a->kv_cache_gb,
                  "KV cache budget in GiB (default: half the free memory; 0.25 for the demo)");
  cmd->add_option("--max-batch,--max-num-seqs", a->max_batch, "Sequences in one engine step")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--async-scheduling", a->async_scheduling,
                  "Build each engine step while the one before runs (off: one step at a time)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--api-key", a->api_key, "Bearer key for /v1/* (see --v1-access; default: none)");
  cmd->add_option("--v1-access", a->v1_access,
                  "Who may call /v1/*: epistula (validators' signed requests), api-key (Bearer --api-key), "
                  "either, or open. Default with a wallet: epistula, or either when --api-key is given; "
                  "without one (the demo's throwaway hotkey): open, or api-key")
      ->check(CLI::IsMember({"epistula", "api-key", "either", "open"}));
  cmd->add_option("--tasks", a->tasks,
                  "Task classes POST /availability claims, comma-separated (\"*\": every task asked about)")
      ->delimiter(',')
      ->capture_default_str();
  // Sampling defaults for every request (validators send none): what makes this miner's
  // replies its own. A request's temperature, top_p, seed and stop still win.
  add_sampling_options(cmd, a->sampling);
  add_unique_options(cmd, a->unique);
  cmd->add_option("--max-tokens", a->max_tokens, "Reply length when the request gives none")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--shutdown-grace", a->grace_s, "Seconds in-flight requests get on SIGTERM")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--deadline-margin-ms", a->deadline_margin_ms,
                  "An axon reply is complete this many ms before the caller's timeout: the axon takes "
                  "all but 50 ms of it off the timeout (at most a quarter of the timeout) to set the "
                  "request's deadline, the engine keeps the 50 ms and one step's time, then ends the "
                  "request with what it has (reason `deadline`)")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  cmd->add_option("--stats-interval", a->stats_interval_s, "Seconds between stats log lines (0: off)")
      ->capture_default_str();
  cmd->callback([a, cmd] {
    if (!a->config.empty()) apply_toml_config(*cmd, a->config);
    a->model = resolve_model_arg(a->model);
    if (!a->embedding_model.empty()) a->embedding_model = resolve_model_arg(a->embedding_model);
    run_serve(*a);
  });
}

}  // namespace ember::cli
