#include "net/axon/synapse_headers.h"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "net/http/json_text.h"

namespace ember::net::axon {
namespace {

constexpr std::string_view kDendrite = "bt_header_dendrite_";
constexpr std::string_view kAxon = "bt_header_axon_";
constexpr std::string_view kInput = "bt_header_input_obj_";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  std::string z(s);   // strtod needs a terminator; header values are short
  char* end = nullptr;
  out = std::strtod(z.c_str(), &end);
  return end == z.c_str() + z.size();
}

bool is_integer(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

void check_int(const Terminal& t, std::string_view side, std::string_view key) {
  auto it = t.find(key);
  if (it != t.end() && !is_integer(it->second))
    throw std::invalid_argument(fmt::format("{} {} must be an integer", side, key));
}

}  // namespace

std::optional<double> SynapseHeaders::timeout_seconds() const {
  double d = 0;
  if (timeout && parse_double(*timeout, d)) return d;
  return std::nullopt;
}

SynapseHeaders parse_synapse_headers(const http::HeaderList& headers) {
  SynapseHeaders h;
  for (const auto& [k, v] : headers) {
    if (k == "name") h.name = v;
    else if (k == "timeout") h.timeout = v;
    else if (k == "header_size") h.header_size = v;
    else if (k == "total_size") h.total_size = v;
    else if (k == "computed_body_hash") h.computed_body_hash = v;
    else if (starts_with(k, kDendrite)) h.dendrite[k.substr(kDendrite.size())] = v;
    else if (starts_with(k, kAxon)) h.axon[k.substr(kAxon.size())] = v;
    else if (starts_with(k, kInput)) h.input_obj.emplace_back(k, v);
  }
  double d = 0;
  if (h.timeout && !h.timeout->empty() && !parse_double(*h.timeout, d))
    throw std::invalid_argument("timeout must be a number");
  for (auto key : {"nonce", "version", "port"}) check_int(h.dendrite, "dendrite", key);
  for (auto key : {"nonce", "version", "port"}) check_int(h.axon, "axon", key);
  return h;
}

std::string axon_signing_message(const SynapseHeaders& req, const AxonSelf& self) {
  const std::string* dh = req.dendrite_field("hotkey");
  return fmt::format("{}.{}.{}.{}", self.nonce, dh ? *dh : std::string("None"), self.hotkey,
                     self.uuid);
}

http::HeaderList response_headers(const SynapseHeaders& req, std::string_view synapse_name,
                                  const std::string& peer_ip, uint16_t peer_port,
                                  const AxonSelf& self, int status_code,
                                  std::string_view status_message, double process_time) {
  http::HeaderList out;
  out.emplace_back("name", std::string(synapse_name));
  if (req.timeout) out.emplace_back("timeout", *req.timeout);

  // The axon's view of itself over what the caller claimed about it.
  Terminal axon = req.axon;
  axon["status_code"] = std::to_string(status_code);
  axon["status_message"] = std::string(status_message);
  axon["process_time"] = http::json_number(process_time);
  if (!self.version.empty()) axon["version"] = self.version;
  if (!self.uuid.empty()) axon["uuid"] = self.uuid;
  if (!self.nonce.empty()) axon["nonce"] = self.nonce;
  if (!self.hotkey.empty()) axon["hotkey"] = self.hotkey;
  if (!self.signature.empty()) axon["signature"] = self.signature;
  else axon.erase("signature");
  for (const auto& [k, v] : axon) out.emplace_back(std::string(kAxon) + k, v);

  Terminal dendrite = req.dendrite;
  if (!peer_ip.empty()) {
    dendrite["ip"] = peer_ip;
    dendrite["port"] = std::to_string(peer_port);
  }
  for (const auto& [k, v] : dendrite) out.emplace_back(std::string(kDendrite) + k, v);

  for (const auto& kv : req.input_obj) out.push_back(kv);
  if (req.header_size) out.emplace_back("header_size", *req.header_size);
  if (req.total_size) out.emplace_back("total_size", *req.total_size);
  if (req.computed_body_hash) out.emplace_back("computed_body_hash", *req.computed_body_hash);
  return out;
}

}  // namespace ember::net::axon
