#pragma once
// Who may call the axon: allow/block lists of SS58 hotkeys (files, one per line, '#' comments)
// and an optional metagraph snapshot (hotkeys, stakes, validator permits). reload() re-reads
// every file and swaps the new state in atomically; a bad file keeps the old state.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "net/crypto/sr25519.h"

namespace ember::net::auth {

struct AccessPolicyConfig {
  std::string allow_file;      // if set, only these hotkeys (and metagraph-admitted ones) may call
  std::string block_file;      // these hotkeys never may
  std::string metagraph_file;  // if set, callers must be registered in it
  bool require_validator_permit = false;
  double min_stake = 0.0;
};

// One neuron of a metagraph snapshot.
struct Neuron {
  double stake = 0.0;
  bool validator_permit = false;
};

// A metagraph snapshot as JSON, either parallel arrays
//   {"hotkeys": [...], "stakes": [...] (or "S"), "validator_permit": [...]}
// or {"neurons": [{"hotkey": "...", "stake": 1.0, "validator_permit": true}, ...]}.
// Stakes and permits are optional (0 / false).
std::map<crypto::PublicKey, Neuron> parse_metagraph_json(std::string_view json, std::string_view source);
// One SS58 hotkey a line; '#' starts a comment; blank lines are skipped.
std::set<crypto::PublicKey> parse_hotkey_list(std::string_view text, std::string_view source);

// Why a caller was refused, for protocols that word their refusals differently (Epistula).
enum class Refusal { None, Blocked, Unregistered, NoPermit, LowStake };

struct AccessDecision {
  bool allowed = true;
  std::string reason;   // e.g. "Unrecognized hotkey"; empty when allowed
  double priority = 0;  // the caller's stake (0 when unknown)
  Refusal refusal = Refusal::None;
};

class AccessPolicy {
 public:
  explicit AccessPolicy(AccessPolicyConfig config = {});  // loads the files; throws ember::Error
  void reload();                                          // throws ember::Error, keeping the old state

  AccessDecision check(std::string_view hotkey_ss58) const;
  AccessDecision check(const crypto::PublicKey& hotkey) const;
  double stake(std::string_view hotkey_ss58) const { return check(hotkey_ss58).priority; }
  // True when any rule can refuse a caller.
  bool restrictive() const;
  double min_stake() const { return config_.min_stake; }

 private:
  struct State {
    std::optional<std::set<crypto::PublicKey>> allow;
    std::set<crypto::PublicKey> block;
    std::optional<std::map<crypto::PublicKey, Neuron>> metagraph;
  };
  std::shared_ptr<const State> load() const;
  std::shared_ptr<const State> state() const;

  AccessPolicyConfig config_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;
};

}  // namespace ember::net::auth
