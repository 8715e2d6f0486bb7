#include "net/auth/replay_guard.h"

#include <cstring>

#include <sodium.h>

namespace ember::net::auth {
namespace {

int64_t second_of(int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }

}  // namespace

ReplayGuard::ReplayGuard(ReplayGuardOptions opts) : opts_(opts) {
  crypto::ensure_sodium();
  randombytes_buf(hash_key_.data(), hash_key_.size());
  expiry_.reserve(opts_.max_entries < 4096 ? opts_.max_entries : 4096);
}

size_t ReplayGuard::KeyHash::operator()(const Key& k) const {
  size_t h;
  std::memcpy(&h, k.data(), sizeof h);
  return h;
}

ReplayGuard::Key ReplayGuard::digest(uint8_t domain, std::string_view a, std::string_view b) const {
  // domain || len(a) || a || b: the length keeps ("ab", "c") and ("a", "bc") apart.
  crypto_generichash_state st;
  crypto_generichash_init(&st, hash_key_.data(), hash_key_.size(), 16);
  const uint64_t len = a.size();
  crypto_generichash_update(&st, &domain, 1);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(&len), sizeof len);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(a.data()), a.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(b.data()), b.size());
  Key k;
  crypto_generichash_final(&st, k.data(), k.size());
  return k;
}

void ReplayGuard::sweep_locked(int64_t now_ms) {
  // A second's bucket is done once its last millisecond has passed.
  while (!by_second_.empty() && by_second_.begin()->first * 1000 + 999 < now_ms) {
    for (const Key& k : by_second_.begin()->second) {
      auto it = expiry_.find(k);
      // The key may have been recorded again later (after it expired) with a later expiry.
      if (it != expiry_.end() && it->second < now_ms) expiry_.erase(it);
    }
    by_second_.erase(by_second_.begin());
  }
}

ReplayVerdict ReplayGuard::admit(std::string_view signer, std::string_view uuid, crypto::ByteView signature,
                                 int64_t expires_ms, int64_t now_ms) {
  const Key by_uuid = digest('u', signer, uuid);
  const Key by_sig =
      digest('s', {}, std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
  std::lock_guard lock(mu_);
  sweep_locked(now_ms);
  auto live = [&](const Key& k) {
    auto it = expiry_.find(k);
    return it != expiry_.end() && it->second >= now_ms;
  };
  // The signature first: a request played again verbatim is named as such; a new signature
  // over a used uuid (a re-signed copy) is caught by the uuid.
  if (live(by_sig)) return ReplayVerdict::SignatureReplayed;
  if (live(by_uuid)) return ReplayVerdict::UuidReplayed;
  const size_t needed = 2 - expiry_.count(by_uuid) - expiry_.count(by_sig);  // expired ones are reused
  if (expiry_.size() + needed > opts_.max_entries) return ReplayVerdict::Full;
  std::vector<Key>& bucket = by_second_[second_of(expires_ms)];
  for (const Key& k : {by_uuid, by_sig}) {
    expiry_[k] = expires_ms;
    bucket.push_back(k);
  }
  return ReplayVerdict::Fresh;
}

size_t ReplayGuard::size() const {
  std::lock_guard lock(mu_);
  return expiry_.size();
}

}  // namespace ember::net::auth
