// The axon request checks: each rejection path with the reference axon's status and message,
// the nonce store's replay and freshness rules, and response signing.
#include <string>

#include <gtest/gtest.h>

#include "net/auth/body_hash.h"
#include "net/auth/request_auth.h"
#include "net/auth/signing_messages.h"
#include "net/crypto/ss58.h"

using namespace ember::net;
using namespace ember::net::auth;

namespace {

constexpr int64_t kNow = 1'732'456'789'123'456'789;
const std::string kBody =
    R"({"name": "Prompting", "timeout": 12.0, "roles": ["system", "user"], )"
    R"("messages": ["You are a helpful assistant.", "What is the capital of Egypt?"], "completion": ""})";

crypto::Keypair key(uint8_t tag) { return crypto::keypair_from_mini_secret(crypto::MiniSecret{tag, 42}); }

struct AuthRequest : ::testing::Test {
  crypto::Keypair validator = key(1);
  crypto::Keypair miner = key(2);
  std::string miner_ss58 = crypto::ss58_encode(miner.public_key);
  std::string validator_ss58 = crypto::ss58_encode(validator.public_key);
  NonceStore nonces;

  DendriteRequest request(int64_t nonce = kNow - 1'000'000) {
    DendriteRequest r;
    r.nonce = nonce;
    r.uuid = "5ecbd69c-1cec-11ee-b0dc-e29ce36fec1a";
    r.axon_hotkey = miner_ss58;
    r.body_hash = compute_body_hash(kBody, kPromptingHashFields);
    return r;
  }
  HeaderMap signed_headers(const DendriteRequest& r) { return sign_request_headers(validator, r); }
  AuthResult run(const HeaderMap& h, const std::string& body = kBody, int64_t now = kNow,
                 const AuthOptions& opts = {}) {
    return verify_request(h, body, miner_ss58, nonces, now, opts);
  }
};

}  // namespace

TEST_F(AuthRequest, ValidRequestPassesOnce) {
  const HeaderMap h = signed_headers(request());
  AuthResult r = run(h);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.message, "Success");
  EXPECT_EQ(r.dendrite_hotkey, validator_ss58);
  EXPECT_EQ(r.timeout_s, 12.0);
  // The same prepared request again is a replay.
  r = run(h);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Nonce is too old, a newer one was last processed");
}

TEST_F(AuthRequest, HeaderNamesAreCaseInsensitive) {
  HeaderMap h;
  for (const auto& [k, v] : signed_headers(request())) {
    std::string up = k;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    h[up] = v;
  }
  EXPECT_TRUE(run(h).ok);
}

TEST_F(AuthRequest, NewerNonceForTheSameEndpointPassesOlderFails) {
  EXPECT_TRUE(run(signed_headers(request(kNow - 3'000'000'000))).ok);
  EXPECT_TRUE(run(signed_headers(request(kNow - 2'000'000'000))).ok);
  const AuthResult r = run(signed_headers(request(kNow - 2'500'000'000)));
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Nonce is too old, a newer one was last processed");
  // A different uuid is a different endpoint key.
  DendriteRequest other = request(kNow - 2'500'000'000);
  other.uuid = "another-uuid";
  EXPECT_TRUE(run(signed_headers(other)).ok);
}

TEST_F(AuthRequest, StaleNonceIsRejectedWithTheReferenceMessage) {
  // Window = 4 s + timeout 12 s = 16 s; this nonce is 20 s old.
  const AuthResult r = run(signed_headers(request(kNow - 20'000'000'000)));
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message,
            "Not Verified with error: Nonce is too old: acceptable delta is 16.00 seconds but request was 20.00 "
            "seconds old");
  // 15 s old is inside the window.
  EXPECT_TRUE(run(signed_headers(request(kNow - 15'000'000'000))).ok);
}

TEST_F(AuthRequest, UnsignedTimeoutCannotWidenTheWindowWithoutBound) {
  DendriteRequest req = request(kNow - 1000'000'000'000);  // 1000 s old
  req.timeout_s = 1e9;
  const AuthResult r = run(signed_headers(req));
  EXPECT_EQ(r.http_status, 401);
  EXPECT_NE(r.message.find("acceptable delta is 304.00 seconds"), std::string::npos) << r.message;
}

TEST_F(AuthRequest, FutureNonceRejectedOnlyWhenASkewLimitIsSet) {
  EXPECT_TRUE(run(signed_headers(request(kNow + 120'000'000'000))).ok);  // reference: accepted
  NonceStoreOptions o;
  o.max_future_skew_s = 30;
  NonceStore strict(o);
  const AuthResult r =
      verify_request(signed_headers(request(kNow + 120'000'000'000)), kBody, miner_ss58, strict, kNow);
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message,
            "Not Verified with error: Nonce is too far in the future: acceptable skew is 30.00 seconds but request "
            "was 120.00 seconds ahead");
}

TEST_F(AuthRequest, LegacyVersionsOnlyNeedIncreasingNoncesWhenEnabled) {
  DendriteRequest req = request(5);  // a monotonic-clock nonce from a pre-7.2 dendrite
  req.version = 6000000;
  EXPECT_EQ(run(signed_headers(req)).http_status, 401);  // default: every nonce must be fresh
  NonceStoreOptions o;
  o.legacy_nonces = true;
  NonceStore legacy(o);
  EXPECT_TRUE(verify_request(signed_headers(req), kBody, miner_ss58, legacy, kNow).ok);
  EXPECT_EQ(verify_request(signed_headers(req), kBody, miner_ss58, legacy, kNow).http_status, 401);
}

TEST_F(AuthRequest, MissingHeaders) {
  auto without = [&](const char* name) {
    HeaderMap h = signed_headers(request());
    h.erase(name);
    return run(h);
  };
  AuthResult r = without("bt_header_dendrite_nonce");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Missing Nonce");
  r = without("bt_header_dendrite_signature");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Missing Signature");
  r = without("bt_header_dendrite_hotkey");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Missing Hotkey");
  r = without("bt_header_dendrite_uuid");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.message, "Not Verified with error: Missing UUID");
  // The hash header is part of the signed message: dropping it breaks the signature.
  r = without("computed_body_hash");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_TRUE(r.message.starts_with("Not Verified with error: Signature mismatch with ")) << r.message;
}

TEST_F(AuthRequest, MalformedHeadersAre400) {
  HeaderMap h = signed_headers(request());
  h["bt_header_dendrite_nonce"] = "12abc";
  AuthResult r = run(h);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_TRUE(r.message.starts_with("Improperly formatted request. Could not parse headers into synapse of type "
                                    "Prompting"))
      << r.message;
  h = signed_headers(request());
  h["timeout"] = "soon";
  EXPECT_EQ(run(h).http_status, 400);
  h = signed_headers(request());
  h["bt_header_dendrite_version"] = "";
  EXPECT_EQ(run(h).http_status, 400);
}

TEST_F(AuthRequest, BadSignatureHasTheReferenceMessage) {
  HeaderMap h = signed_headers(request());
  std::string sig = h["bt_header_dendrite_signature"];
  sig[10] = sig[10] == '0' ? '1' : '0';
  h["bt_header_dendrite_signature"] = sig;
  const AuthResult r = run(h);
  EXPECT_EQ(r.http_status, 401);
  const DendriteRequest req = request();
  EXPECT_EQ(r.message, "Not Verified with error: Signature mismatch with " +
                           request_message(req.nonce, validator_ss58, miner_ss58, req.uuid, req.body_hash) + " and " +
                           sig);
  // Not hex at all, and too short.
  h["bt_header_dendrite_signature"] = "0xnothex";
  EXPECT_EQ(run(h).http_status, 401);
  h["bt_header_dendrite_signature"] = "0x1234";
  EXPECT_EQ(run(h).http_status, 401);
  // A failed request does not burn the nonce: the genuine one still passes.
  EXPECT_TRUE(run(signed_headers(request())).ok);
}

TEST_F(AuthRequest, SignatureForAnotherAxonIsRejected) {
  DendriteRequest req = request();
  req.axon_hotkey = crypto::ss58_encode(key(3).public_key);  // the validator meant someone else
  const AuthResult r = run(signed_headers(req));
  EXPECT_EQ(r.http_status, 401);
  // The message is rebuilt with the miner's own hotkey, never the header's claim.
  EXPECT_NE(r.message.find("." + miner_ss58 + "."), std::string::npos);
}

TEST_F(AuthRequest, ClaimedHotkeyMustBeTheSigner) {
  HeaderMap h = signed_headers(request());
  h["bt_header_dendrite_hotkey"] = crypto::ss58_encode(key(4).public_key);
  EXPECT_EQ(run(h).http_status, 401);
  h["bt_header_dendrite_hotkey"] = "5notanaddress";
  const AuthResult r = run(h);
  EXPECT_EQ(r.http_status, 401);
  EXPECT_TRUE(r.message.starts_with("Not Verified with error: Invalid hotkey")) << r.message;
}

TEST_F(AuthRequest, AllZeroHotkeyCannotForgeAnything) {
  // With the identity as public key, (R = r·B, s = r) satisfies the schnorrkel equation for any
  // message; ember refuses the key outright.
  const crypto::PublicKey zero{};
  const std::string zero_ss58 = crypto::ss58_encode(zero);
  const crypto::Keypair r = key(9);
  std::string sig = "0x" + crypto::to_hex(r.public_key);
  auto s = r.key;
  s[31] |= 0x80;
  sig += crypto::to_hex(s);
  HeaderMap h = signed_headers(request());
  h["bt_header_dendrite_hotkey"] = zero_ss58;
  h["bt_header_dendrite_signature"] = sig;
  const AuthResult res = run(h);
  EXPECT_EQ(res.http_status, 401);
  EXPECT_TRUE(res.message.starts_with("Not Verified with error: Signature mismatch")) << res.message;
}

TEST_F(AuthRequest, BodyHashMismatchIs400AfterVerification) {
  const HeaderMap h = signed_headers(request());
  std::string tampered = kBody;
  tampered.replace(tampered.find("Egypt"), 5, "Spain");
  const AuthResult r = run(h, tampered);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.message, "Hash mismatch between header body hash " + request().body_hash + " and parsed body hash " +
                           compute_body_hash(tampered, kPromptingHashFields));
  // Unrelated fields are not hashed.
  DendriteRequest req = request(kNow - 500);
  std::string other = kBody;
  other.replace(other.find("\"completion\": \"\""), 16, "\"completion\": \"x\"");
  EXPECT_TRUE(run(signed_headers(req), other).ok);
  // A body that is not JSON.
  EXPECT_EQ(run(signed_headers(request(kNow - 400)), "{").http_status, 400);
}

TEST_F(AuthRequest, BytesWrappedSignatureIsAccepted) {
  // bittensor's Keypair.verify retries with <Bytes>…</Bytes>; polkadot-js signers use it.
  const DendriteRequest req = request();
  HeaderMap h = signed_headers(req);
  const std::string msg = request_message(req.nonce, validator_ss58, miner_ss58, req.uuid, req.body_hash);
  h["bt_header_dendrite_signature"] = sign_hex(validator, "<Bytes>" + msg + "</Bytes>");
  EXPECT_TRUE(run(h).ok);
}

TEST_F(AuthRequest, PolicyRunsBeforeVerification) {
  AccessPolicyConfig cfg;
  AccessPolicy open(cfg);
  AuthOptions opts;
  opts.policy = &open;
  EXPECT_TRUE(run(signed_headers(request()), kBody, kNow, opts).ok);
}

TEST(NonceStoreTest, CommitIsCompareAndSet) {
  NonceStore s;
  EXPECT_EQ(s.check("k", 100, 10002000, 12, 100).verdict, NonceVerdict::Fresh);
  EXPECT_TRUE(s.commit("k", 100, 100));
  EXPECT_FALSE(s.commit("k", 100, 100));
  EXPECT_FALSE(s.commit("k", 99, 100));
  EXPECT_TRUE(s.commit("k", 101, 100));
  EXPECT_EQ(s.check("k", 101, 10002000, 12, 100).verdict, NonceVerdict::NotNewer);
}

TEST(NonceStoreTest, ExpiredEntriesAreSweptAndTheirReplaysStillFail) {
  NonceStoreOptions o;
  o.max_timeout_s = 10;
  NonceStore s(o);
  const int64_t t0 = 1'000'000'000'000'000'000;
  ASSERT_TRUE(s.commit("old", t0, t0));
  // Two minutes later a commit triggers a sweep; the old entry is past every window.
  const int64_t t1 = t0 + 120'000'000'000;
  ASSERT_TRUE(s.commit("new", t1, t1));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.check("old", t0, 10002000, 1e9, t1).verdict, NonceVerdict::TooOld);
}

TEST(NonceStoreTest, SizeIsBounded) {
  NonceStoreOptions o;
  o.max_entries = 100;
  NonceStore s(o);
  const int64_t t = 1'000'000'000'000'000'000;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.commit(std::string("k").append(std::to_string(i)), t + i, t));
  EXPECT_LE(s.size(), 100u);
  EXPECT_GE(s.size(), 1u);
}

TEST(ResponseSigning, AxonSignsNonceCallerSelfAndUuid) {
  const crypto::Keypair axon = key(5);
  const std::string caller = crypto::ss58_encode(key(6).public_key);
  const HeaderMap h = sign_response_headers(axon, caller, 1234567890123, "axon-uuid");
  EXPECT_EQ(h.at("bt_header_axon_nonce"), "1234567890123");
  EXPECT_EQ(h.at("bt_header_axon_uuid"), "axon-uuid");
  EXPECT_EQ(h.at("bt_header_axon_hotkey"), crypto::ss58_encode(axon.public_key));
  const std::string msg = "1234567890123." + caller + "." + crypto::ss58_encode(axon.public_key) + ".axon-uuid";
  EXPECT_EQ(response_message(1234567890123, caller, crypto::ss58_encode(axon.public_key), "axon-uuid"), msg);
  const std::string& sig = h.at("bt_header_axon_signature");
  ASSERT_EQ(sig.size(), 130u);
  EXPECT_EQ(crypto::verify(axon.public_key, crypto::as_bytes(msg), crypto::from_hex(sig)), crypto::VerifyStatus::Ok);
}

TEST(SignedMessage, ExactFormat) {
  EXPECT_EQ(request_message(1732456789123456789, "5F", "5G", "u-1", "abc"), "1732456789123456789.5F.5G.u-1.abc");
  EXPECT_EQ(request_message(7, "a", "b", "c", ""), "7.a.b.c.");
}
