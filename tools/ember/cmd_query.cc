// `ember query`: call an axon as a validator would (signed synapse over HTTP), once to read the
// answer, or many times over many keep-alive connections to load-test a miner.
#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "net/auth/wallet.h"
#include "net/crypto/ss58.h"
#include "tools/ember/commands.h"
#include "tools/ember/dendrite_client.h"

namespace ember::cli {
namespace {

struct QueryArgs {
  std::string axon;
  std::string axon_hotkey;
  net::auth::WalletLocation wallet = net::auth::WalletLocation::defaults();
  std::string prompt;
  std::optional<std::string> system;
  std::string synapse = "Prompting";
  int concurrency = 1;
  int requests = 1;
  double timeout = 12.0;
  int progress_every = 0;
};

AxonTarget parse_axon(const std::string& spec, const std::string& hotkey) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
    fail("--axon {}: expected HOST:PORT", spec);
  AxonTarget t;
  t.host = spec.substr(0, colon);
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);
  const std::string port = spec.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) == 0 ||
      std::stoi(port) > 65535)
    fail("--axon {}: port must be 1..65535", spec);
  t.port = static_cast<uint16_t>(std::stoi(port));
  net::crypto::ss58_decode(hotkey);  // throws with a clear message on a bad address
  t.hotkey = hotkey;
  return t;
}

void print_load(const LoadReport& r) {
  std::printf("requests:    %d\nerrors:      %d\nconnections: %d\n", r.completed, r.errors, r.connections_opened);
  for (const auto& [status, n] : r.status_counts) std::printf("status %3d:  %d\n", status, n);
  std::printf("latency p50: %.1f ms\nlatency p90: %.1f ms\nlatency p99: %.1f ms\n",
              percentile(r.latencies_s, 50) * 1e3, percentile(r.latencies_s, 90) * 1e3,
              percentile(r.latencies_s, 99) * 1e3);
  std::printf("wall:        %.2f s\nrequests/s:  %.1f\n", r.wall_s, r.wall_s > 0 ? r.completed / r.wall_s : 0.0);
  for (const auto& [what, n] : r.error_samples) std::printf("error x%d: %s\n", n, what.c_str());
}

void run_query(const QueryArgs& a) {
  LoadOptions opts;
  opts.target = parse_axon(a.axon, a.axon_hotkey);
  opts.call.synapse = a.synapse;
  opts.call.timeout_s = a.timeout;
  if (a.system) {
    opts.call.roles.push_back("system");
    opts.call.messages.push_back(*a.system);
  }
  opts.call.roles.push_back("user");
  opts.call.messages.push_back(a.prompt);
  opts.concurrency = a.concurrency;
  opts.requests = a.requests;
  if (a.progress_every > 0) {
    opts.on_result = [every = a.progress_every, total = a.requests](int n, const SynapseResult&) {
      if (n % every == 0 || n == total) {
        std::fprintf(stderr, "progress %d/%d\n", n, total);
        std::fflush(stderr);
      }
    };
  }
  const net::auth::Hotkey hk = net::auth::load_hotkey(a.wallet.hotkey_file());
  const LoadReport r = run_dendrite(hk.keypair, opts);
  if (a.requests == 1) {
    if (r.first.status == 0) fail("--axon {}: no answer: {}", a.axon, r.first.message);
    if (r.first.status != 200) fail("axon answered {}: {}", r.first.status, r.first.message);
    std::printf("%s\n", r.first.completion.c_str());
    return;
  }
  print_load(r);
  std::fflush(stdout);
  if (r.errors > 0) fail("{} of {} requests failed", r.errors, r.completed);
}

}  // namespace

void add_query_command(CLI::App& app) {
  auto a = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand("query", "Send signed synapses to an axon, as a validator (load test with --requests)");
  cmd->add_option("--axon", a->axon, "The miner's HOST:PORT")->required();
  cmd->add_option("--axon-hotkey", a->axon_hotkey, "The miner's hotkey SS58 address (signed into each request)")
      ->required();
  cmd->add_option("--wallet.path", a->wallet.path, "Validator wallet folder (env BT_WALLET_PATH)")
      ->capture_default_str();
  cmd->add_option("--wallet.name", a->wallet.name, "Validator wallet name (env BT_WALLET_NAME)")->capture_default_str();
  cmd->add_option("--wallet.hotkey", a->wallet.hotkey, "Validator hotkey name (env BT_WALLET_HOTKEY)")
      ->capture_default_str();
  cmd->add_option("--prompt", a->prompt, "The user message")->required();
  cmd->add_option("--system", a->system, "A system message before the prompt");
  cmd->add_option("--synapse", a->synapse, "Synapse name")
      ->check(CLI::IsMember({"Prompting", "StreamPromptingSynapse"}))
      ->capture_default_str();
  cmd->add_option("--concurrency", a->concurrency, "Connections, one request in flight on each")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--requests", a->requests, "Requests in all; more than 1 prints a load report")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout, "Synapse timeout in seconds (the client gives up after it)")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  cmd->add_option("--progress", a->progress_every, "Print 'progress N/TOTAL' to stderr every N requests");
  cmd->callback([a] { run_query(*a); });
}

}  // namespace ember::cli
