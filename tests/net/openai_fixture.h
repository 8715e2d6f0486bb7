#pragma once
// A MinerServer over the fake service on a loopback port, for the OpenAI-compatible API tests,
// and a reader for server-sent events.
#include <simdjson.h>

#include <gtest/gtest.h>

#include "net/axon/miner_server.h"
#include "tests/net/test_http_support.h"

namespace ember::net::test {

class OpenAIServerTest : public ::testing::Test {
 protected:
  void start() {
    opts.http.host = "127.0.0.1";
    opts.http.port = 0;
    opts.http.worker_threads = 4;
    server = std::make_unique<MinerServer>(opts, service);
    server->start();
    port = server->port();
  }
  void TearDown() override {
    if (server) server->stop(std::chrono::milliseconds(0));
  }
  Response call(const std::string& raw) {
    Client c(port);
    c.send(raw);
    return c.read_response();
  }
  Response post_json(const std::string& path, const std::string& body, const std::string& headers = "") {
    return call(post(path, body, headers));
  }
  FakeService service;
  MinerServerOptions opts;
  std::unique_ptr<MinerServer> server;
  uint16_t port = 0;
};

// The JSON payloads of "data: ..." events, without the final [DONE] (checked to be last).
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    EXPECT_EQ(body.compare(pos, 6, "data: "), 0) << body.substr(pos);
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << body.substr(pos);
      break;
    }
    events.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  EXPECT_FALSE(events.empty());
  if (!events.empty()) {
    EXPECT_EQ(events.back(), "[DONE]");
    events.pop_back();
  }
  return events;
}

}  // namespace ember::net::test
