// Epistula verification (net/auth/epistula): the reference miner's checks with its statuses and
// messages, ember's stricter ones (future skew, replays, header form), the replay guard's
// expiry and bound, the /v1 access modes, and POST /availability's reply.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/auth/body_hash.h"
#include "net/auth/epistula.h"
#include "net/auth/replay_guard.h"
#include "net/auth/signing_messages.h"
#include "net/axon/availability.h"
#include "net/crypto/ss58.h"
#include "net/openai/v1_access.h"
#include "tests/test_support.h"

using namespace ember::net;
using namespace ember::net::auth;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNow = 1'733'412'345'678;
const std::string kBody =
    R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true, "seed": 7})";
const std::string kUuid = "0b5f8e4a-7c1d-4e2b-9a3f-6d8c2e1f0a9b";

crypto::Keypair key(uint8_t tag) { return crypto::keypair_from_mini_secret(crypto::MiniSecret{tag, 9}); }
std::string addr(uint8_t tag) { return crypto::ss58_encode(key(tag).public_key); }

struct Epistula : ::testing::Test {
  crypto::Keypair validator = key(1);
  std::string miner = addr(2);
  ReplayGuard replay;
  fs::path dir;

  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  HeaderMap signed_headers(const std::string& body = kBody, int64_t ts = kNow - 100,
                           const std::string& uuid = kUuid) {
    return sign_epistula_headers(validator, body, miner, ts, uuid);
  }
  EpistulaResult run(const HeaderMap& h, const std::string& body = kBody, const AccessPolicy* policy = nullptr,
                     int64_t now = kNow) {
    return verify_epistula(h, body, miner, policy, &replay, now);
  }
  // A metagraph snapshot: the validator (tag 1) with `stake` and a permit, tag 3 without one.
  AccessPolicy policy(double stake, double min_stake, bool require_permit = false) {
    dir = ember::test::per_test_dir("ember_epistula");
    fs::create_directories(dir);
    const fs::path mg = dir / "metagraph.json";
    std::ofstream(mg) << R"({"hotkeys": [")" << addr(1) << R"(", ")" << addr(3) << R"("], "S": [)" << stake
                      << R"(, 50000], "validator_permit": [true, false]})";
    AccessPolicyConfig c;
    c.metagraph_file = mg.string();
    c.min_stake = min_stake;
    c.require_validator_permit = require_permit;
    return AccessPolicy(c);
  }
};

void expect_refused(const EpistulaResult& r, int status, const std::string& message, EpistulaCheck check) {
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, status);
  EXPECT_EQ(r.message, message);
  EXPECT_EQ(r.check, check) << label(r.check);
}

}  // namespace

TEST(EpistulaMessage, Sha256AndLayout) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(epistula_message("abc", "u-1", 1733412345678, "5Fme"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.u-1.1733412345678.5Fme");
}

TEST_F(Epistula, SignedRequestPassesOnceThenIsAReplay) {
  const HeaderMap h = signed_headers();
  const EpistulaResult r = run(h);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.message, "Success");
  EXPECT_EQ(r.signer, addr(1));
  // The same request verbatim: its signature was used.
  expect_refused(run(h), 409, "Request replayed: this signature was already used", EpistulaCheck::Replayed);
  // Re-signed with the same uuid (a new signature, a new timestamp): the uuid was used.
  expect_refused(run(signed_headers(kBody, kNow - 50)), 409, "Request replayed: this Epistula-Uuid was already used",
                 EpistulaCheck::Replayed);
  // A fresh uuid is a new request.
  EXPECT_TRUE(run(signed_headers(kBody, kNow - 50, "another-uuid")).ok);
}

TEST_F(Epistula, HeaderNamesAreCaseInsensitive) {
  HeaderMap lower;
  for (const auto& [k, v] : signed_headers()) {
    std::string name = k;
    for (char& c : name) c = CaseInsensitiveLess::lower(c);
    lower.emplace(name, v);
  }
  EXPECT_TRUE(has_epistula_headers(lower));
  EXPECT_TRUE(run(lower).ok);
  EXPECT_FALSE(has_epistula_headers(HeaderMap{{"authorization", "Bearer x"}, {"seed", "7"}}));
  EXPECT_TRUE(has_epistula_headers(HeaderMap{{"EPISTULA-UUID", "x"}}));
}

TEST_F(Epistula, ReferenceChecksInOrderWithItsMessages) {
  // 1. Not for this miner (also when the header is missing), even when everything else is wrong.
  HeaderMap h = sign_epistula_headers(validator, kBody, addr(4), kNow - 100'000, kUuid);
  expect_refused(run(h), 400, "Bad Request, message is not intended for self", EpistulaCheck::NotForSelf);
  h = signed_headers();
  h.erase("Epistula-Signed-For");
  expect_refused(run(h), 400, "Bad Request, message is not intended for self", EpistulaCheck::NotForSelf);

  // 2-3. Signer and stake, before freshness and the signature.
  const AccessPolicy low = policy(500, 1000);
  HeaderMap stale = signed_headers(kBody, kNow - 60'000);
  expect_refused(run(stale, kBody, &low), 401, "Stake below minimum: 500 < 1000", EpistulaCheck::LowStake);
  const crypto::Keypair stranger = key(5);
  h = sign_epistula_headers(stranger, kBody, miner, kNow, "u-stranger");
  expect_refused(run(h, kBody, &low), 401, "Signer not in metagraph", EpistulaCheck::NotInMetagraph);

  // 4. Stale: older than 8,000 ms. Exactly 8,000 ms still passes.
  expect_refused(run(stale), 400, "Request is too stale", EpistulaCheck::Stale);
  EXPECT_TRUE(run(signed_headers(kBody, kNow - 8000, "u-edge")).ok);
  expect_refused(run(signed_headers(kBody, kNow - 8001, "u-old")), 400, "Request is too stale",
                 EpistulaCheck::Stale);

  // 5. Signature: signed by someone else, or over another body.
  h = signed_headers(kBody, kNow, "u-forged");
  h["Epistula-Request-Signature"] = sign_hex(stranger, epistula_message(kBody, "u-forged", kNow, miner));
  expect_refused(run(h), 400, "Signature Mismatch", EpistulaCheck::BadSignature);
  h = signed_headers(kBody, kNow, "u-tampered");
  std::string tampered = kBody;
  tampered[tampered.find("hi")] = 'H';
  expect_refused(run(h, tampered), 400, "Signature Mismatch", EpistulaCheck::BadSignature);
}

TEST_F(Epistula, AdmittedSignersWithStakeAndPermit) {
  const AccessPolicy ok = policy(20000, 10000, /*require_permit=*/true);
  const EpistulaResult r = run(signed_headers(), kBody, &ok);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_DOUBLE_EQ(r.priority, 20000);
  const crypto::Keypair no_permit = key(3);
  expect_refused(run(sign_epistula_headers(no_permit, kBody, miner, kNow, "u3"), kBody, &ok), 401,
                 "Signer has no validator permit", EpistulaCheck::NoPermit);
}

TEST_F(Epistula, BlockListRefusesWith403) {
  dir = ember::test::per_test_dir("ember_epistula");
  fs::create_directories(dir);
  std::ofstream(dir / "block.txt") << addr(1) << "\n";
  AccessPolicyConfig c;
  c.block_file = (dir / "block.txt").string();
  const AccessPolicy p(c);
  expect_refused(run(signed_headers(), kBody, &p), 403, "Forbidden, signer is blocked", EpistulaCheck::Blocked);
  // Another signer is let through: without a metagraph the lists are the whole policy.
  const crypto::Keypair other = key(6);
  EXPECT_TRUE(run(sign_epistula_headers(other, kBody, miner, kNow, "u6"), kBody, &p).ok);
}

TEST_F(Epistula, FutureTimestampsBeyondTheSkewAreRefused) {
  EXPECT_TRUE(run(signed_headers(kBody, kNow + 2000, "u-skew")).ok);
  expect_refused(run(signed_headers(kBody, kNow + 2001, "u-ahead")), 400,
                 "Request is from the future: its timestamp is 2001 ms ahead of this miner's clock (allowed skew "
                 "2000 ms)",
                 EpistulaCheck::Future);
  // A request signed an hour ahead would otherwise stay usable for an hour.
  EXPECT_EQ(run(signed_headers(kBody, kNow + 3'600'000, "u-hour")).check, EpistulaCheck::Future);
}

TEST_F(Epistula, MissingAndMalformedHeadersNameTheHeader) {
  for (const std::string name : {"Epistula-Timestamp", "Epistula-Uuid", "Epistula-Request-Signature"}) {
    HeaderMap h = signed_headers();
    h.erase(name);
    expect_refused(run(h), 400, "Missing " + name + " header", EpistulaCheck::MissingHeader);
  }
  HeaderMap h = signed_headers();
  h.erase("Epistula-Signed-By");
  expect_refused(run(h), 400, "Missing Epistula-Signed-By header", EpistulaCheck::MissingHeader);

  struct Case {
    std::string header, value, message_start;
  };
  for (const Case& c : {Case{"Epistula-Timestamp", "17334e9", "Invalid Epistula-Timestamp header"},
                        Case{"Epistula-Timestamp", "-5", "Invalid Epistula-Timestamp header"},
                        Case{"Epistula-Timestamp", "99999999999999999999", "Invalid Epistula-Timestamp header"},
                        Case{"Epistula-Signed-By", "not-an-address", "Invalid Epistula-Signed-By header"},
                        Case{"Epistula-Request-Signature", "abcd", "Invalid Epistula-Request-Signature header"},
                        Case{"Epistula-Request-Signature", "0x" + std::string(128, 'g'),
                             "Invalid Epistula-Request-Signature header"},
                        Case{"Epistula-Uuid", std::string(129, 'a'), "Invalid Epistula-Uuid header"},
                        Case{"Epistula-Uuid", "has space", "Invalid Epistula-Uuid header"},
                        Case{"Epistula-Version", "3", "Unsupported Epistula-Version \"3\""}}) {
    HeaderMap bad = signed_headers();
    bad[c.header] = c.value;
    const EpistulaResult r = run(bad);
    EXPECT_FALSE(r.ok) << c.header << "=" << c.value;
    EXPECT_EQ(r.http_status, 400) << c.header;
    EXPECT_EQ(r.check, EpistulaCheck::BadHeader) << c.header << ": " << r.message;
    EXPECT_EQ(r.message.rfind(c.message_start, 0), 0u) << r.message;
  }
  // Without Epistula-Version (the reference never reads it) a request still passes.
  h = signed_headers();
  h.erase("Epistula-Version");
  EXPECT_TRUE(run(h).ok);
}

TEST_F(Epistula, AForgedRequestCannotBurnAValidatorsUuid) {
  // Someone who saw the uuid signs with their own key (or garbage): refused, and not recorded.
  HeaderMap forged = signed_headers();
  forged["Epistula-Request-Signature"] = sign_hex(key(7), epistula_message(kBody, kUuid, kNow - 100, miner));
  EXPECT_EQ(run(forged).check, EpistulaCheck::BadSignature);
  EXPECT_EQ(replay.size(), 0u);
  EXPECT_TRUE(run(signed_headers()).ok);
}

TEST(ReplayGuard, EntriesExpireAndTheTableIsBounded) {
  ReplayGuard g(ReplayGuardOptions{6});  // three requests
  const crypto::Signature sig1{1}, sig2{2}, sig3{3}, sig4{4};
  EXPECT_EQ(g.admit("a", "u1", sig1, 10'000, 1'000), ReplayVerdict::Fresh);
  EXPECT_EQ(g.admit("a", "u1", sig2, 10'000, 1'000), ReplayVerdict::UuidReplayed);
  EXPECT_EQ(g.admit("b", "u1", sig2, 10'000, 1'000), ReplayVerdict::Fresh);  // uuids are per signer
  EXPECT_EQ(g.admit("c", "u9", sig1, 10'000, 1'000), ReplayVerdict::SignatureReplayed);
  EXPECT_EQ(g.admit("a", "u3", sig3, 12'000, 1'000), ReplayVerdict::Fresh);
  EXPECT_EQ(g.size(), 6u);
  // Full of live entries: a new request is refused rather than an old one forgotten.
  EXPECT_EQ(g.admit("a", "u4", sig4, 12'000, 9'000), ReplayVerdict::Full);
  EXPECT_EQ(g.admit("a", "u1", sig1, 10'000, 10'000), ReplayVerdict::SignatureReplayed);  // alive to the ms
  // Past 10,000 ms the first two requests are gone and their room is free again.
  EXPECT_EQ(g.admit("a", "u4", sig4, 12'000, 11'000), ReplayVerdict::Fresh);
  EXPECT_EQ(g.size(), 4u);
  EXPECT_EQ(g.admit("a", "u1", sig1, 20'000, 11'000), ReplayVerdict::Fresh);
  EXPECT_EQ(g.admit("a", "u3", sig3, 20'000, 11'500), ReplayVerdict::SignatureReplayed);  // lives to 12,000
  EXPECT_EQ(g.admit("a", "u3", sig3, 20'000, 13'000), ReplayVerdict::Fresh);  // and may come back after
  EXPECT_EQ(g.size(), 4u);
}

TEST(ReplayGuard, RacingCopiesOfOneRequestAdmitExactlyOne) {
  ReplayGuard g;
  const crypto::Signature sig{42};
  std::atomic<int> fresh{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        const crypto::Signature s = [&] {
          crypto::Signature x = sig;
          x[1] = static_cast<uint8_t>(i);
          return x;
        }();
        if (g.admit("v", "u" + std::to_string(i), s, 50'000, 1'000) == ReplayVerdict::Fresh) ++fresh;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), 200);
  EXPECT_EQ(g.size(), 400u);
}

namespace {

http::HttpRequest request_with(const HeaderMap& h, const std::string& body = kBody) {
  http::HttpRequest r;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.body = body;
  for (const auto& [k, v] : h) {
    std::string name = k;
    for (char& c : name) c = CaseInsensitiveLess::lower(c);
    r.headers.emplace_back(name, v);
  }
  return r;
}

}  // namespace

TEST(V1Access, ModesAndDefaults) {
  using openai::V1Access;
  EXPECT_EQ(openai::default_v1_access(true, false), V1Access::Epistula);
  EXPECT_EQ(openai::default_v1_access(true, true), V1Access::Either);
  EXPECT_EQ(openai::default_v1_access(false, false), V1Access::Open);
  EXPECT_EQ(openai::default_v1_access(false, true), V1Access::ApiKey);
  EXPECT_EQ(openai::parse_v1_access("either"), V1Access::Either);
  EXPECT_FALSE(openai::parse_v1_access("Epistula").has_value());

  openai::V1AccessConfig c;
  c.my_hotkey = addr(2);
  c.mode = V1Access::ApiKey;
  EXPECT_THROW(openai::validate(c), ember::Error);  // no key
  c.mode = V1Access::Epistula;
  c.api_key = "k";
  EXPECT_THROW(openai::validate(c), ember::Error);  // the key would be ignored
  c.mode = V1Access::Either;
  EXPECT_NO_THROW(openai::validate(c));
}

TEST(V1Access, EitherTakesASignatureOrTheKeyAndCountsWhy) {
  openai::V1AccessConfig c;
  c.mode = openai::V1Access::Either;
  c.api_key = "sekrit";
  c.my_hotkey = addr(2);
  const openai::Authorizer auth = openai::make_v1_authorizer(c);
  const crypto::Keypair validator = key(1);
  const int64_t now = unix_time_ms();

  http::HttpRequest signed_req = request_with(sign_epistula_headers(validator, kBody, addr(2), now, "u-1"));
  EXPECT_TRUE(auth(signed_req).ok);
  openai::AccessVerdict v = auth(signed_req);  // again: a replay
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.status, 409);
  EXPECT_EQ(v.protocol, "epistula");
  EXPECT_EQ(v.reason, "replayed");

  http::HttpRequest bearer = request_with({{"Authorization", "Bearer sekrit"}});
  EXPECT_TRUE(auth(bearer).ok);
  bearer.headers[0].second = "Bearer sekriT";
  v = auth(bearer);
  EXPECT_EQ(v.status, 401);
  EXPECT_EQ(v.message, "Incorrect API key provided.");
  EXPECT_EQ(v.reason, "wrong_key");

  // A bad signature does not fall back to the key.
  http::HttpRequest both = request_with(sign_epistula_headers(validator, kBody, addr(2), now, "u-2"), "tampered");
  both.headers.emplace_back("authorization", "Bearer sekrit");
  v = auth(both);
  EXPECT_EQ(v.status, 400);
  EXPECT_EQ(v.message, "Signature Mismatch");

  // A repeated Epistula header is refused: two readers could take different values.
  http::HttpRequest twice = request_with(sign_epistula_headers(validator, kBody, addr(2), now, "u-3"));
  twice.headers.emplace_back("epistula-signed-for", addr(2));
  EXPECT_EQ(auth(twice).message, "Repeated epistula-signed-for header");

  v = auth(request_with({}));
  EXPECT_EQ(v.status, 401);
  EXPECT_EQ(v.reason, "unsigned");
}

TEST(V1Access, EpistulaModeRefusesUnsignedAndBearerCalls) {
  openai::V1AccessConfig c;
  c.mode = openai::V1Access::Epistula;
  c.my_hotkey = addr(2);
  const openai::Authorizer auth = openai::make_v1_authorizer(c);
  const openai::AccessVerdict v = auth(request_with({{"Authorization", "Bearer anything"}}));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.status, 401);
  EXPECT_EQ(v.message, "Missing Epistula headers: this miner serves /v1 to signed validator requests only");
  const openai::Authorizer open = [] {
    openai::V1AccessConfig o;
    o.mode = openai::V1Access::Open;
    return openai::make_v1_authorizer(o);
  }();
  EXPECT_TRUE(open(request_with({})).ok);
}

TEST(Availability, ClaimsServedModelsAndDeclaredTasks) {
  const std::vector<std::string> models = {"org/model", "alias"};
  EXPECT_EQ(axon::availability_reply(
                R"({"task_availabilities": {"InferenceTask": true, "WebRetrievalTask": true},
                    "llm_model_availabilities": {"org/model": true, "other/model": true, "alias": false}})",
                models, {"InferenceTask"}),
            R"({"task_availabilities":{"InferenceTask":true,"WebRetrievalTask":false},)"
            R"("llm_model_availabilities":{"org/model":true,"other/model":false,"alias":true}})");
  EXPECT_EQ(axon::availability_reply(R"({"task_availabilities": {"A": false, "B": false}})", models, {"*"}),
            R"({"task_availabilities":{"A":true,"B":true},"llm_model_availabilities":{}})");
  EXPECT_EQ(axon::availability_reply("{}", models, {}), R"({"task_availabilities":{},"llm_model_availabilities":{}})");
  EXPECT_EQ(axon::availability_reply(R"({"llm_model_availabilities": {"alias": 1, "alias": 1}})", models, {}),
            R"({"task_availabilities":{},"llm_model_availabilities":{"alias":true}})");
  EXPECT_THROW(axon::availability_reply("[1]", models, {}), ember::Error);
  EXPECT_THROW(axon::availability_reply("{", models, {}), ember::Error);
  EXPECT_THROW(axon::availability_reply(R"({"task_availabilities": ["InferenceTask"]})", models, {}), ember::Error);
}
