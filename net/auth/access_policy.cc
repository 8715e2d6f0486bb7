#include "net/auth/access_policy.h"

#include <fstream>
#include <sstream>

#include <simdjson.h>

#include "engine/core/error.h"
#include "net/crypto/ss58.h"

namespace ember::net::auth {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

crypto::PublicKey decode_hotkey(std::string_view ss58, std::string_view where) {
  try {
    return crypto::ss58_decode_any(ss58).public_key;
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

double number_of(simdjson::dom::element v, std::string_view where) {
  double d;
  if (v.is_int64()) return static_cast<double>(v.get_int64().value_unsafe());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64().value_unsafe());
  if (v.get_double().get(d)) fail("{}: expected a number", where);
  return d;
}

bool bool_of(simdjson::dom::element v, std::string_view where) {
  bool b;
  if (v.get_bool().get(b) == simdjson::SUCCESS) return b;
  if (v.is_int64()) return v.get_int64().value_unsafe() != 0;  // torch tensors dump as 0/1
  fail("{}: expected a boolean", where);
}

}  // namespace

std::set<crypto::PublicKey> parse_hotkey_list(std::string_view text, std::string_view source) {
  std::set<crypto::PublicKey> out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    out.insert(decode_hotkey(line, fmt::format("{}:{}", source, line_no)));
  }
  return out;
}

std::map<crypto::PublicKey, Neuron> parse_metagraph_json(std::string_view json, std::string_view source) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) fail("{}: invalid JSON: {}", source, simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail("{}: expected a JSON object", source);
  std::map<crypto::PublicKey, Neuron> out;

  simdjson::dom::array neurons;
  if (obj["neurons"].get_array().get(neurons) == simdjson::SUCCESS) {
    size_t i = 0;
    for (simdjson::dom::element n : neurons) {
      const std::string where = fmt::format("{}: neurons[{}]", source, i++);
      std::string_view hk;
      if (n["hotkey"].get_string().get(hk)) fail("{}: missing \"hotkey\"", where);
      Neuron neuron;
      simdjson::dom::element v;
      if (n["stake"].get(v) == simdjson::SUCCESS) neuron.stake = number_of(v, where + ".stake");
      if (n["validator_permit"].get(v) == simdjson::SUCCESS) neuron.validator_permit = bool_of(v, where + ".validator_permit");
      out[decode_hotkey(hk, where)] = neuron;
    }
    return out;
  }

  simdjson::dom::array hotkeys, stakes, permits;
  if (obj["hotkeys"].get_array().get(hotkeys)) fail("{}: expected \"hotkeys\" (array) or \"neurons\"", source);
  const bool have_stakes = obj["stakes"].get_array().get(stakes) == simdjson::SUCCESS ||
                           obj["S"].get_array().get(stakes) == simdjson::SUCCESS;
  const bool have_permits = obj["validator_permit"].get_array().get(permits) == simdjson::SUCCESS ||
                            obj["validator_permits"].get_array().get(permits) == simdjson::SUCCESS;
  const size_t n = hotkeys.size();
  if (have_stakes && stakes.size() != n) fail("{}: {} stakes for {} hotkeys", source, stakes.size(), n);
  if (have_permits && permits.size() != n) fail("{}: {} validator permits for {} hotkeys", source, permits.size(), n);
  for (size_t i = 0; i < n; ++i) {
    const std::string where = fmt::format("{}: hotkeys[{}]", source, i);
    std::string_view hk;
    if (hotkeys.at(i).get_string().get(hk)) fail("{}: expected a string", where);
    Neuron neuron;
    if (have_stakes) neuron.stake = number_of(stakes.at(i).value_unsafe(), where + " stake");
    if (have_permits) neuron.validator_permit = bool_of(permits.at(i).value_unsafe(), where + " validator_permit");
    out[decode_hotkey(hk, where)] = neuron;
  }
  return out;
}

AccessPolicy::AccessPolicy(AccessPolicyConfig config) : config_(std::move(config)) { state_ = load(); }

void AccessPolicy::reload() {
  auto fresh = load();
  std::lock_guard lock(mu_);
  state_ = std::move(fresh);
}

std::shared_ptr<const AccessPolicy::State> AccessPolicy::load() const {
  auto s = std::make_shared<State>();
  if (!config_.allow_file.empty()) s->allow = parse_hotkey_list(read_file(config_.allow_file), config_.allow_file);
  if (!config_.block_file.empty()) s->block = parse_hotkey_list(read_file(config_.block_file), config_.block_file);
  if (!config_.metagraph_file.empty())
    s->metagraph = parse_metagraph_json(read_file(config_.metagraph_file), config_.metagraph_file);
  return s;
}

std::shared_ptr<const AccessPolicy::State> AccessPolicy::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool AccessPolicy::restrictive() const {
  auto s = state();
  return s->allow || !s->block.empty() || s->metagraph;
}

AccessDecision AccessPolicy::check(std::string_view hotkey_ss58) const {
  crypto::PublicKey pk;
  try {
    pk = crypto::ss58_decode_any(hotkey_ss58).public_key;
  } catch (const Error&) {
    if (restrictive()) return {false, "Unrecognized hotkey", 0, Refusal::Unregistered};
    return {};
  }
  return check(pk);
}

AccessDecision AccessPolicy::check(const crypto::PublicKey& hotkey) const {
  auto s = state();
  AccessDecision d;
  const Neuron* neuron = nullptr;
  if (s->metagraph) {
    auto it = s->metagraph->find(hotkey);
    if (it != s->metagraph->end()) neuron = &it->second;
  }
  if (neuron) d.priority = neuron->stake;
  if (s->block.count(hotkey)) return {false, "Blacklisted hotkey", d.priority, Refusal::Blocked};
  if (s->allow && s->allow->count(hotkey)) return d;
  if (s->metagraph) {
    if (!neuron) return {false, "Unrecognized hotkey", 0, Refusal::Unregistered};
    if (config_.require_validator_permit && !neuron->validator_permit)
      return {false, "Non-validator hotkey", d.priority, Refusal::NoPermit};
    if (neuron->stake < config_.min_stake)
      return {false, "Insufficient stake", d.priority, Refusal::LowStake};
    return d;
  }
  if (s->allow) return {false, "Unrecognized hotkey", 0, Refusal::Unregistered};
  return d;
}

}  // namespace ember::net::auth
