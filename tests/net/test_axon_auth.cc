// The axon with real authentication (net/auth): requests signed like a bittensor dendrite pass;
// replays, tampered bodies, unsigned requests and blocked callers are refused with the
// reference's status codes. The response signature verifies against the miner's hotkey.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "net/auth/access_policy.h"
#include "net/auth/body_hash.h"
#include "net/auth/signing_messages.h"
#include "net/auth/wallet.h"
#include "net/axon/axon_auth.h"
#include "net/axon/miner_server.h"
#include "net/crypto/ss58.h"
#include "tests/net/test_http_support.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;

crypto::MiniSecret seed_of(uint8_t b) {
  crypto::MiniSecret s{};
  s.fill(b);
  return s;
}

class AxonAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    miner = auth::hotkey_from_seed(seed_of(1));
    validator = auth::hotkey_from_seed(seed_of(2));
    axon_auth = std::make_unique<axon::AxonAuth>(miner.ss58(), nullptr);
    MinerServerOptions o;
    o.http.host = "127.0.0.1";
    o.http.port = 0;
    o.axon.hotkey = miner.ss58();
    o.axon.authenticate = axon_auth->authenticator();
    o.axon.sign = axon::make_signer(miner.keypair);
    server = std::make_unique<MinerServer>(o, service);
    server->start();
  }
  void TearDown() override { server->stop(0ms); }

  // A request as the dendrite builds it: headers signed over the body hash of `messages`.
  std::string signed_request(const std::string& body_sent, const std::string& body_signed,
                             int64_t nonce) {
    auth::DendriteRequest d;
    d.nonce = nonce;
    d.uuid = "dendrite-uuid";
    d.axon_hotkey = miner.ss58();
    d.body_hash = auth::compute_body_hash(body_signed, auth::kPromptingHashFields);
    std::string headers;
    for (const auto& [k, v] : auth::sign_request_headers(validator.keypair, d))
      headers += k + ": " + v + "\r\n";
    return test::post("/Prompting", body_sent, headers);
  }
  test::Response send(const std::string& raw) {
    test::Client c(server->port());
    c.send(raw);
    return c.read_response();
  }

  auth::Hotkey miner, validator;
  std::unique_ptr<axon::AxonAuth> axon_auth;
  test::FakeService service;
  std::unique_ptr<MinerServer> server;
  const std::string body = R"({"name":"Prompting","roles":["user"],"messages":["hi"],"completion":""})";
};

TEST_F(AxonAuthTest, SignedRequestIsServedAndTheResponseSignatureVerifies) {
  auto r = send(signed_request(body, body, auth::unix_time_ns()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"completion\":\"Hello, world!\""), std::string::npos);
  std::string msg = auth::response_message(std::stoll(r.headers["bt_header_axon_nonce"]),
                                           validator.ss58(), miner.ss58(),
                                           r.headers["bt_header_axon_uuid"]);
  std::string sig_hex = r.headers["bt_header_axon_signature"];
  ASSERT_EQ(sig_hex.size(), 130u);
  std::vector<uint8_t> sig;
  for (size_t i = 2; i < sig_hex.size(); i += 2)
    sig.push_back(static_cast<uint8_t>(std::stoi(sig_hex.substr(i, 2), nullptr, 16)));
  auto pk = miner.keypair.public_key;
  EXPECT_EQ(crypto::verify(crypto::ByteView(pk.data(), pk.size()),
                           crypto::as_bytes(msg),
                           crypto::ByteView(sig.data(), sig.size())),
            crypto::VerifyStatus::Ok);
}

TEST_F(AxonAuthTest, ReplayIsRefusedWith401) {
  std::string req = signed_request(body, body, auth::unix_time_ns());
  EXPECT_EQ(send(req).status, 200);
  auto again = send(req);
  EXPECT_EQ(again.status, 401);
  EXPECT_NE(again.body.find("Nonce is too old"), std::string::npos) << again.body;
  EXPECT_EQ(service.calls.load(), 1);
}

TEST_F(AxonAuthTest, TamperedBodyIsRefused) {
  std::string altered = R"({"name":"Prompting","roles":["user"],"messages":["bye"],"completion":""})";
  auto r = send(signed_request(altered, body, auth::unix_time_ns()));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Hash mismatch"), std::string::npos) << r.body;
  EXPECT_EQ(service.calls.load(), 0);
}

TEST_F(AxonAuthTest, UnsignedRequestIsRefusedWith401) {
  auto r = send(test::post("/Prompting", body, "name: Prompting\r\ntimeout: 12.0\r\n"));
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(r.headers["bt_header_axon_status_code"], "401");
  EXPECT_EQ(service.calls.load(), 0);
}

// Every refusal is an HTTP answer like any other, so /metrics counts it under its route and
// status: 403 from the allow list, 401 for a replay, a wrong axon hotkey and a missing
// signature, 400 for a tampered body. Scraped over HTTP, as Prometheus would.
TEST(AxonAuthMetrics, RejectionsAreCountedInMetrics) {
  namespace fs = std::filesystem;
  const auth::Hotkey miner = auth::hotkey_from_seed(seed_of(1));
  const auth::Hotkey validator = auth::hotkey_from_seed(seed_of(2));
  const auth::Hotkey stranger = auth::hotkey_from_seed(seed_of(3));
  const fs::path dir = fs::temp_directory_path() / ("ember_axon_metrics_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "allow.txt") << validator.ss58() << "\n";
  auth::AccessPolicyConfig pc;
  pc.allow_file = (dir / "allow.txt").string();
  auth::AccessPolicy policy(pc);
  axon::AxonAuth axon_auth(miner.ss58(), &policy);
  test::FakeService service;
  MinerServerOptions o;
  o.http.host = "127.0.0.1";
  o.http.port = 0;
  o.axon.hotkey = miner.ss58();
  o.axon.authenticate = axon_auth.authenticator();
  o.axon.sign = axon::make_signer(miner.keypair);
  MinerServer server(o, service);
  server.start();

  const std::string body = R"({"name":"Prompting","roles":["user"],"messages":["hi"],"completion":""})";
  const std::string altered = R"({"name":"Prompting","roles":["user"],"messages":["bye"],"completion":""})";
  auto request = [&](const auth::Hotkey& caller, const std::string& axon_hotkey, const std::string& sent,
                     const std::string& hashed) {
    auth::DendriteRequest d;
    d.nonce = auth::unix_time_ns();
    d.uuid = "uuid-" + caller.ss58().substr(0, 8);
    d.axon_hotkey = axon_hotkey;
    d.body_hash = auth::compute_body_hash(hashed, auth::kPromptingHashFields);
    std::string headers;
    for (const auto& [k, v] : auth::sign_request_headers(caller.keypair, d)) headers += k + ": " + v + "\r\n";
    return test::post("/Prompting", sent, headers);
  };
  auto send = [&](const std::string& raw) {
    test::Client c(server.port());
    c.send(raw);
    return c.read_response();
  };

  const std::string good = request(validator, miner.ss58(), body, body);
  EXPECT_EQ(send(good).status, 200);
  auto replay = send(good);
  EXPECT_EQ(replay.status, 401) << replay.body;
  auto blocked = send(request(stranger, miner.ss58(), body, body));
  EXPECT_EQ(blocked.status, 403) << blocked.body;
  EXPECT_NE(blocked.body.find("Forbidden. Key is blacklisted: Unrecognized hotkey."), std::string::npos)
      << blocked.body;
  auto wrong_axon = send(request(validator, stranger.ss58(), body, body));
  EXPECT_EQ(wrong_axon.status, 401) << wrong_axon.body;
  EXPECT_NE(wrong_axon.body.find("Signature mismatch"), std::string::npos) << wrong_axon.body;
  auto unsigned_req = send(test::post("/Prompting", body,
                                      "name: Prompting\r\nbt_header_dendrite_hotkey: " + validator.ss58() + "\r\n"));
  EXPECT_EQ(unsigned_req.status, 401) << unsigned_req.body;
  auto tampered = send(request(validator, miner.ss58(), altered, body));
  EXPECT_EQ(tampered.status, 400) << tampered.body;
  EXPECT_EQ(service.calls.load(), 1);

  // The counters are bumped once each answer is written, which the client may read first, and
  // connections are served on several threads: wait for all six.
  ASSERT_TRUE(test::eventually([&] {
    const auto& m = server.metrics();
    return m.requests("/Prompting", 200) == 1 && m.requests("/Prompting", 400) == 1 &&
           m.requests("/Prompting", 401) == 3 && m.requests("/Prompting", 403) == 1;
  }));
  test::Client c(server.port());
  c.send(test::get("/metrics"));
  const test::Response m = c.read_response();
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("ember_http_requests_total{route=\"/Prompting\",status=\"200\"} 1\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("ember_http_requests_total{route=\"/Prompting\",status=\"401\"} 3\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("ember_http_requests_total{route=\"/Prompting\",status=\"403\"} 1\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("ember_http_requests_total{route=\"/Prompting\",status=\"400\"} 1\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("ember_http_request_duration_seconds_count{route=\"/Prompting\"} 6\n"), std::string::npos)
      << m.body;
  server.stop(0ms);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ember::net
