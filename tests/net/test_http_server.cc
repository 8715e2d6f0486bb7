// The HTTP server end to end: a real server on 127.0.0.1 (ephemeral port) and real sockets.
#include <thread>

#include <gtest/gtest.h>

#include "net/axon/miner_server.h"
#include "tests/net/test_http_support.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;
using test::Client;

using test::eventually;

class HttpServerTest : public ::testing::Test {
 protected:
  void start(MinerServerOptions o = {}) {
    o.http.host = "127.0.0.1";
    o.http.port = 0;
    o.http.worker_threads = 4;
    server = std::make_unique<MinerServer>(o, service);
    server->start();
    port = server->port();
  }
  void TearDown() override {
    if (server) server->stop(0ms);
  }
  test::FakeService service;
  std::unique_ptr<MinerServer> server;
  uint16_t port = 0;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  Client c(port);
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(test::get("/health")));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_NE(r.body.find("\"status\":\"ok\""), std::string::npos);
    EXPECT_EQ(r.headers["connection"], "keep-alive");
  }
  EXPECT_TRUE(eventually([&] { return server->metrics().requests("/health", 200) == 3; }));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send(test::get("/v1/models") + test::get("/health")));
  auto a = c.read_response();
  auto b = c.read_response();
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("fake-model"), std::string::npos);
  EXPECT_EQ(b.status, 200);
  EXPECT_NE(b.body.find("\"status\":\"ok\""), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, OversizedHeaderIs431AndOversizedBodyIs413) {
  MinerServerOptions o;
  o.http.limits.max_header_bytes = 1024;
  o.http.limits.max_body_bytes = 2048;
  start(o);
  {
    Client c(port);
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nX-Big: " + std::string(4000, 'x') + "\r\n\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(c.wait_closed());
  }
  {
    // Refused from the declared length: the body is never sent.
    Client c(port);
    ASSERT_TRUE(c.send("POST /Prompting HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("too large"), std::string::npos);
  }
  EXPECT_EQ(server->metrics().requests("", 431), 1);
  EXPECT_EQ(server->metrics().requests("", 413), 1);
  EXPECT_EQ(service.calls.load(), 0);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send("GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n"));
  auto r = c.read_response();
  EXPECT_TRUE(r.status == 400 || r.status == 501) << r.status;
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, SlowClientGets408AndLosesTheConnection) {
  MinerServerOptions o;
  o.http.read_timeout = 300ms;
  start(o);
  Client c(port);
  // Half a request, then nothing: the read deadline runs from the first byte.
  ASSERT_TRUE(c.send("POST /Prompting HTTP/1.1\r\nHost: t\r\n"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(eventually([&] { return server->metrics().requests("", 408) == 1; }));
}

TEST_F(HttpServerTest, IdleConnectionIsClosed) {
  MinerServerOptions o;
  o.http.idle_timeout = 200ms;
  start(o);
  Client c(port);
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(eventually([&] { return server->metrics().requests("", 408) == 0; }));
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitGet503) {
  MinerServerOptions o;
  o.http.max_connections = 1;
  start(o);
  Client a(port);
  ASSERT_TRUE(a.send(test::get("/health")));
  EXPECT_EQ(a.read_response().status, 200);
  Client b(port);
  auto r = b.read_response();
  EXPECT_EQ(r.status, 503);
  // The first connection still works.
  ASSERT_TRUE(a.send(test::get("/health")));
  EXPECT_EQ(a.read_response().status, 200);
}

TEST_F(HttpServerTest, UnknownRouteIs404AndWrongMethodIs405) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send(test::get("/nope")));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("Synapse name 'nope' not found"), std::string::npos);
  ASSERT_TRUE(c.send(test::post("/health", "{}")));
  auto m = c.read_response();
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.headers["allow"], "GET");
}

TEST_F(HttpServerTest, ClientDisconnectCancelsGeneration) {
  service.hold = true;
  start();
  {
    Client c(port);
    ASSERT_TRUE(c.send(test::post("/v1/chat/completions",
                                  R"({"messages":[{"role":"user","content":"hi"}]})")));
    ASSERT_TRUE(eventually([&] { return service.stream(0) != nullptr; }));
  }  // the client hangs up mid-generation
  EXPECT_TRUE(eventually([&] { return service.stream(0)->cancel_calls.load() > 0; }));
}

TEST_F(HttpServerTest, GracefulShutdownFinishesInFlightRequests) {
  service.hold = true;
  start();
  Client c(port);
  ASSERT_TRUE(c.send(test::post("/v1/chat/completions",
                                R"({"messages":[{"role":"user","content":"hi"}]})")));
  ASSERT_TRUE(eventually([&] { return service.stream(0) != nullptr; }));
  std::thread stopper([&] { server->stop(10s); });
  // New connections are refused while draining...
  EXPECT_TRUE(eventually([&] {
    Client late(port, 500);
    return !late.connected() || late.wait_closed();
  }));
  // ...and the in-flight request still completes.
  service.stream(0)->release();
  auto r = c.read_response();
  stopper.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Hello, world!"), std::string::npos);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_EQ(service.stream(0)->cancel_calls.load(), 0);
}

TEST_F(HttpServerTest, ShutdownCancelsRequestsPastTheGracePeriod) {
  service.hold = true;
  start();
  Client c(port);
  ASSERT_TRUE(c.send(test::post("/v1/chat/completions",
                                R"({"messages":[{"role":"user","content":"hi"}]})")));
  ASSERT_TRUE(eventually([&] { return service.stream(0) != nullptr; }));
  server->stop(100ms);  // the stream never finishes by itself
  EXPECT_GT(service.stream(0)->cancel_calls.load(), 0);
  EXPECT_EQ(server->metrics().requests("/v1/chat/completions", 499), 1);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, CurlPostsWithExpectContinue) {
  if (test::run_command("command -v curl").empty()) GTEST_SKIP() << "curl not installed";
  start();
  // Over 1 KiB, curl sends "Expect: 100-continue" and waits for the interim response.
  std::string big(3000, 'a');
  std::string body = R"({"messages":[{"role":"user","content":")" + big + R"("}]})";
  std::string path = ::testing::TempDir() + "/ember_curl_body.json";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
  std::string out = test::run_command(
      "curl -s --max-time 10 -H 'Content-Type: application/json' --data-binary @" + path +
      " -w '\\n%{http_code}' http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions");
  EXPECT_NE(out.find("\"content\":\"Hello, world!\""), std::string::npos) << out;
  EXPECT_NE(out.find("\n200"), std::string::npos) << out;
  EXPECT_EQ(service.last_request().messages.at(0).content, big);
}

}  // namespace
}  // namespace ember::net
