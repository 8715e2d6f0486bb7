// The axon: synapse decode/encode and the protocol over a real server (docs: axon protocol).
#include <simdjson.h>

#include <gtest/gtest.h>

#include "net/axon/miner_server.h"
#include "net/axon/synapse.h"
#include "net/axon/synapse_headers.h"
#include "tests/net/test_http_support.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;
using test::Client;

const char* kBody =
    R"({"name": "Prompting", "timeout": 12.0, "total_size": 0, "header_size": 0,)"
    R"( "dendrite": {"status_code": null, "ip": "1.2.3.4", "version": 10002000,)"
    R"( "nonce": 1732456789123456789, "uuid": "u-1", "hotkey": "5Fdend", "signature": "0xab"},)"
    R"( "axon": {"status_code": null, "ip": "5.6.7.8", "port": 8091, "hotkey": "5Gminer"},)"
    R"( "computed_body_hash": "", "required_hash_fields": ["messages"], "extra": {"k": [1, null]},)"
    R"( "roles": ["system", "user"], "messages": ["You are helpful.", "Capital of Egypt?"],)"
    R"( "completion": ""})";

std::string synapse_headers(const std::string& timeout = "12.0") {
  return "name: Prompting\r\ntimeout: " + timeout +
         "\r\nheader_size: 640\r\ntotal_size: 3000\r\ncomputed_body_hash: abc123\r\n"
         "bt_header_dendrite_ip: 1.2.3.4\r\nbt_header_dendrite_version: 10002000\r\n"
         "bt_header_dendrite_nonce: 1732456789123456789\r\nbt_header_dendrite_uuid: u-1\r\n"
         "bt_header_dendrite_hotkey: 5Fdend\r\nbt_header_dendrite_signature: 0xab\r\n"
         "bt_header_axon_ip: 5.6.7.8\r\nbt_header_axon_port: 8091\r\n"
         "bt_header_axon_hotkey: 5Gclaimed\r\nbt_header_input_obj_messages: W10=\r\n";
}

TEST(Synapse, DecodesAndEchoesEveryFieldWithTheCompletion) {
  axon::Synapse s = axon::decode_synapse(kBody);
  EXPECT_EQ(s.name, "Prompting");
  EXPECT_DOUBLE_EQ(s.timeout, 12.0);
  ASSERT_EQ(s.messages.size(), 2u);
  EXPECT_EQ(s.roles[1], "user");
  auto msgs = axon::synapse_messages(s);
  EXPECT_EQ(msgs[0].role, "system");
  EXPECT_EQ(msgs[1].content, "Capital of Egypt?");

  std::string out = axon::encode_synapse(s, "Cairo \"quoted\"\n\xF0\x9F\x98\x80");
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(out);
  EXPECT_EQ(std::string_view(e["completion"]), "Cairo \"quoted\"\n\xF0\x9F\x98\x80");
  EXPECT_EQ(int64_t(e["dendrite"]["nonce"]), 1732456789123456789);
  EXPECT_TRUE(e["dendrite"]["status_code"].is_null());
  EXPECT_EQ(std::string_view(e["roles"].at(0)), "system");
  EXPECT_TRUE(e["extra"]["k"].at(1).is_null());
  EXPECT_EQ(std::string_view(e["required_hash_fields"].at(0)), "messages");
}

TEST(Synapse, AppendsCompletionWhenAbsentAndDefaultsRolesToUser) {
  axon::Synapse s = axon::decode_synapse(R"({"messages": ["hi"]})");
  EXPECT_EQ(axon::synapse_messages(s)[0].role, "user");
  EXPECT_EQ(axon::encode_synapse(s, "yo"), R"({"messages":["hi"],"completion":"yo"})");
}

TEST(Synapse, RejectsBadBodiesWithClearMessages) {
  auto msg = [](const char* body) {
    try {
      axon::decode_synapse(body);
    } catch (const axon::SynapseError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(msg("{not json").find("invalid JSON"), std::string::npos);
  EXPECT_NE(msg("[1,2]").find("JSON object"), std::string::npos);
  EXPECT_NE(msg(R"({"roles": []})").find("'messages' is required"), std::string::npos);
  EXPECT_NE(msg(R"({"messages": [1]})").find("list of strings"), std::string::npos);
  EXPECT_NE(msg(R"({"messages": ["a"], "roles": ["user", "system"]})").find("same length"),
            std::string::npos);
  EXPECT_NE(msg(R"({"messages": ["a"], "timeout": "soon"})").find("timeout"), std::string::npos);
}

TEST(SynapseHeaders, ParsesAndBuildsTheResponseHeaders) {
  http::HeaderList in = {{"name", "Prompting"},           {"timeout", "12.0"},
                         {"computed_body_hash", "h"},     {"bt_header_dendrite_hotkey", "5F"},
                         {"bt_header_dendrite_nonce", "7"}, {"bt_header_axon_port", "8091"},
                         {"bt_header_input_obj_messages", "W10="}};
  axon::SynapseHeaders h = axon::parse_synapse_headers(in);
  EXPECT_EQ(h.timeout_seconds().value(), 12.0);
  axon::AxonSelf self{"5Gme", "uuid-1", "10002000", "99", "0xsig"};
  EXPECT_EQ(axon::axon_signing_message(h, self), "99.5F.5Gme.uuid-1");
  auto out = axon::response_headers(h, "Prompting", "127.0.0.1", 5555, self, 200, "Success", 0.5);
  std::map<std::string, std::string> m(out.begin(), out.end());
  EXPECT_EQ(m["bt_header_axon_status_code"], "200");
  EXPECT_EQ(m["bt_header_axon_status_message"], "Success");
  EXPECT_EQ(m["bt_header_axon_process_time"], "0.5");
  EXPECT_EQ(m["bt_header_axon_hotkey"], "5Gme");
  EXPECT_EQ(m["bt_header_axon_port"], "8091");
  EXPECT_EQ(m["bt_header_axon_signature"], "0xsig");
  EXPECT_EQ(m["bt_header_dendrite_ip"], "127.0.0.1");
  EXPECT_EQ(m["bt_header_dendrite_port"], "5555");
  EXPECT_EQ(m["bt_header_dendrite_nonce"], "7");
  EXPECT_EQ(m["bt_header_input_obj_messages"], "W10=");
  EXPECT_EQ(m["computed_body_hash"], "h");
  EXPECT_EQ(m["name"], "Prompting");

  EXPECT_THROW(axon::parse_synapse_headers({{"timeout", "soon"}}), std::invalid_argument);
  EXPECT_THROW(axon::parse_synapse_headers({{"bt_header_dendrite_nonce", "12x"}}),
               std::invalid_argument);
}

class AxonTest : public ::testing::Test {
 protected:
  void start() {
    opts.http.host = "127.0.0.1";
    opts.http.port = 0;
    opts.http.worker_threads = 4;
    opts.axon.hotkey = "5Gminer";
    opts.axon.uuid = "server-uuid";
    opts.axon.sign = [this](std::string_view m) {
      signed_message = std::string(m);
      return std::string("0xfeed");
    };
    server = std::make_unique<MinerServer>(opts, service);
    server->start();
    port = server->port();
  }
  void TearDown() override {
    if (server) server->stop(0ms);
  }
  test::Response call(const std::string& path, const std::string& body,
                      const std::string& headers = synapse_headers()) {
    Client c(port);
    c.send(test::post(path, body, headers));
    return c.read_response();
  }
  test::FakeService service;
  MinerServerOptions opts;
  std::unique_ptr<MinerServer> server;
  uint16_t port = 0;
  std::string signed_message;
};

TEST_F(AxonTest, PromptingAnswersTheSynapseWithItsCompletionAndHeaders) {
  start();
  auto r = call("/Prompting", kBody);
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(r.body);
  EXPECT_EQ(std::string_view(e["completion"]), "Hello, world!");
  EXPECT_EQ(std::string_view(e["messages"].at(1)), "Capital of Egypt?");
  EXPECT_EQ(std::string_view(e["dendrite"]["hotkey"]), "5Fdend");
  EXPECT_EQ(r.headers["bt_header_axon_status_code"], "200");
  EXPECT_EQ(r.headers["bt_header_axon_status_message"], "Success");
  EXPECT_EQ(r.headers["bt_header_axon_hotkey"], "5Gminer");
  EXPECT_EQ(r.headers["bt_header_axon_uuid"], "server-uuid");
  EXPECT_EQ(r.headers["bt_header_axon_signature"], "0xfeed");
  EXPECT_EQ(r.headers["bt_header_dendrite_ip"], "127.0.0.1");
  EXPECT_EQ(r.headers["bt_header_dendrite_hotkey"], "5Fdend");
  EXPECT_EQ(r.headers["computed_body_hash"], "abc123");
  EXPECT_EQ(r.headers["name"], "Prompting");
  EXPECT_EQ(signed_message, r.headers["bt_header_axon_nonce"] + ".5Fdend.5Gminer.server-uuid");
  // The engine got the roles and messages, and a deadline before the caller's 12 s timeout.
  ASSERT_EQ(service.last_request().messages.size(), 2u);
  EXPECT_EQ(service.last_request().messages[0].role, "system");
  EXPECT_LT(service.last_request().deadline, std::chrono::steady_clock::now() + 12s);
  EXPECT_FALSE(service.last_request().stream);
}

TEST_F(AxonTest, StreamPromptingSendsHeadersThenRawTextChunks) {
  start();
  std::string body = kBody;
  auto r = call("/StreamPromptingSynapse", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(r.headers["bt_header_axon_status_code"], "200");
  EXPECT_EQ(r.body, "Hello, world!");
  EXPECT_EQ(r.chunks, (std::vector<std::string>{"Hello", ", ", "world", "!"}));
  EXPECT_TRUE(service.last_request().stream);
}

TEST_F(AxonTest, StreamChunksNeverSplitAUtf8Character) {
  // "é" (C3 A9) and "😀" (F0 9F 98 80) arrive split across engine pieces.
  service.pieces = {"caf\xC3", "\xA9 \xF0\x9F", "\x98\x80"};
  start();
  auto r = call("/StreamPromptingSynapse", kBody);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(r.chunks, (std::vector<std::string>{"caf", "\xC3\xA9 ", "\xF0\x9F\x98\x80"}));
}

TEST_F(AxonTest, UnknownSynapseIs404WithTheReferenceMessage) {
  start();
  auto r = call("/Foo", kBody);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("Synapse name 'Foo' not found. Available synapses ['Prompting', "
                        "'StreamPromptingSynapse']"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.headers["bt_header_axon_status_code"], "404");
}

TEST_F(AxonTest, BadJsonIs400WithMessageAndCounted) {
  start();
  auto r = call("/Prompting", "{\"messages\": [\"a\"");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"message\":\"invalid JSON body"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers["bt_header_axon_status_code"], "400");
  EXPECT_EQ(service.calls.load(), 0);
  auto m = call("/Prompting", kBody, synapse_headers("soon"));
  EXPECT_EQ(m.status, 400);
  EXPECT_NE(m.body.find("Could not parse headers"), std::string::npos);
  EXPECT_TRUE(test::eventually([&] { return server->metrics().requests("/Prompting", 400) == 2; }));
}

TEST_F(AxonTest, AuthenticatorRunsBeforeTheBodyIsParsed) {
  opts.axon.authenticate = [](const axon::AuthContext& c) {
    const std::string* hk = c.headers.dendrite_field("hotkey");
    if (hk && *hk == "5Fdend") return axon::AuthResult{false, 403, "Forbidden. Key is blacklisted: Unrecognized hotkey."};
    return axon::AuthResult{false, 401, "Not Verified with error: Missing Nonce"};
  };
  start();
  // An invalid body still gets the auth answer: nothing of it was looked at.
  auto r = call("/Prompting", "{broken");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("Unrecognized hotkey"), std::string::npos);
  EXPECT_EQ(r.headers["bt_header_axon_status_message"],
            "Forbidden. Key is blacklisted: Unrecognized hotkey.");
  auto u = call("/Prompting", kBody, "name: Prompting\r\n");
  EXPECT_EQ(u.status, 401);
  EXPECT_NE(u.body.find("Missing Nonce"), std::string::npos);
  EXPECT_EQ(service.calls.load(), 0);
}

TEST_F(AxonTest, TheCallersStakeFromAuthenticationBecomesTheRequestPriority) {
  opts.axon.authenticate = [](const axon::AuthContext&) {
    axon::AuthResult ok;
    ok.priority = 1234.5;
    return ok;
  };
  start();
  auto r = call("/Prompting", kBody);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(service.last_request().priority, 1234.5);
}

TEST_F(AxonTest, BodyHashMismatchIs400) {
  opts.axon.verify_body = [](const axon::SynapseHeaders& h, const axon::Synapse& s) {
    if (h.computed_body_hash && *h.computed_body_hash == "abc123" && s.messages.size() == 2)
      return axon::AuthResult{false, 400, "Hash mismatch between header body hash abc123 and "
                                          "parsed body hash fff"};
    return axon::AuthResult{};
  };
  start();
  auto r = call("/Prompting", kBody);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Hash mismatch"), std::string::npos);
  EXPECT_EQ(service.calls.load(), 0);
}

TEST_F(AxonTest, FullQueueIs503) {
  service.busy = true;
  start();
  auto r = call("/Prompting", kBody);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("queue full"), std::string::npos);
}

TEST_F(AxonTest, ServiceThatOverrunsTheTimeoutGets408) {
  service.hold = true;  // never answers and ignores its deadline
  start();
  auto r = call("/Prompting", kBody, synapse_headers("1.0"));
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("Request timeout"), std::string::npos);
  EXPECT_GT(service.stream(0)->cancel_calls.load(), 0);
}

TEST_F(AxonTest, AnswerCutAtTheDeadlineStillReturns200) {
  service.hold = true;
  service.honor_deadline = true;  // ends with kDeadline at the request's deadline
  start();
  auto r = call("/Prompting", kBody, synapse_headers("1.0"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"completion\":\"\""), std::string::npos);
}

TEST_F(AxonTest, EngineErrorIs500WithAnId) {
  service.finish = FinishReason::kError;
  start();
  auto r = call("/Prompting", kBody);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("Internal Server Error #axon-"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace ember::net
