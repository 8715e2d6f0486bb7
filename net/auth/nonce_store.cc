#include "net/auth/nonce_store.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ember::net::auth {

NonceCheck NonceStore::check(const std::string& endpoint_key, int64_t nonce, int64_t version, double timeout_s,
                             int64_t now_ns) const {
  NonceCheck r;
  const bool windowed = version >= kVersion720 || !opts_.legacy_nonces;
  // The reference uses (timeout or 0): a missing, zero or NaN timeout adds nothing.
  double t = std::isfinite(timeout_s) ? std::clamp(timeout_s, 0.0, opts_.max_timeout_s) : 0.0;
  const long double window_ns = static_cast<long double>(kAllowedDeltaNs) + static_cast<long double>(t) * 1e9L;
  r.allowed_delta_s = static_cast<double>(window_ns / 1e9L);
  r.age_s = static_cast<double>((static_cast<long double>(now_ns) - nonce) / 1e9L);

  std::lock_guard lock(mu_);
  auto it = last_.find(endpoint_key);
  if (it != last_.end()) {
    if (nonce <= it->second) r.verdict = NonceVerdict::NotNewer;
    return r;
  }
  if (windowed && static_cast<long double>(nonce) <= static_cast<long double>(now_ns) - window_ns) {
    r.verdict = NonceVerdict::TooOld;
    return r;
  }
  if (opts_.max_future_skew_s > 0 && -r.age_s > opts_.max_future_skew_s) {
    r.verdict = NonceVerdict::FromFuture;
    r.allowed_delta_s = opts_.max_future_skew_s;
  }
  return r;
}

bool NonceStore::commit(const std::string& endpoint_key, int64_t nonce, int64_t now_ns) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = last_.try_emplace(endpoint_key, nonce);
  if (!inserted) {
    if (nonce <= it->second) return false;
    it->second = nonce;
  }
  if (last_.size() > opts_.max_entries || now_ns - last_sweep_ns_ > 60'000'000'000LL) expire_locked(now_ns);
  return true;
}

void NonceStore::expire_locked(int64_t now_ns) {
  last_sweep_ns_ = now_ns;
  // An entry whose nonce is older than the widest freshness window can go: a replay of it fails
  // the window check instead. With legacy nonces there is no window, so nothing expires safely
  // except under memory pressure.
  const int64_t horizon = now_ns - kAllowedDeltaNs - static_cast<int64_t>(opts_.max_timeout_s * 1e9) - 1'000'000'000;
  if (!opts_.legacy_nonces) std::erase_if(last_, [&](const auto& kv) { return kv.second < horizon; });
  if (last_.size() > opts_.max_entries) {
    // Still full of live entries: drop the oldest tenth in one pass. Those endpoints may then
    // replay once inside their window, the price of bounded memory under a flood of validly
    // signed requests.
    std::vector<int64_t> nonces;
    nonces.reserve(last_.size());
    for (const auto& kv : last_) nonces.push_back(kv.second);
    const size_t drop = last_.size() - opts_.max_entries * 9 / 10;
    std::nth_element(nonces.begin(), nonces.begin() + (drop - 1), nonces.end());
    const int64_t cutoff = nonces[drop - 1];
    std::erase_if(last_, [&](const auto& kv) { return kv.second <= cutoff; });
  }
}

size_t NonceStore::size() const {
  std::lock_guard lock(mu_);
  return last_.size();
}

}  // namespace ember::net::auth
