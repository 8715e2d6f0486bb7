// /metrics: Prometheus text format, and counters that move with traffic and rejections.
#include <gtest/gtest.h>

#include "net/axon/miner_server.h"
#include "net/metrics/prometheus.h"
#include "tests/net/test_http_support.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;

TEST(Prometheus, RendersCountersAndCumulativeHistograms) {
  metrics::CounterFamily c("reqs_total", "Requests.", {"route", "status"});
  c.add({"/a", "200"});
  c.add({"/a", "200"});
  c.add({"we\"ird\\", "404"}, 3);
  std::string out;
  c.render(out);
  EXPECT_NE(out.find("# TYPE reqs_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("reqs_total{route=\"/a\",status=\"200\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("reqs_total{route=\"we\\\"ird\\\\\",status=\"404\"} 3\n"), std::string::npos)
      << out;

  metrics::HistogramFamily h("lat_seconds", "Latency.", {}, {0.1, 1});
  h.observe({}, 0.05);
  h.observe({}, 0.5);
  h.observe({}, 5);
  std::string hs;
  h.render(hs);
  EXPECT_NE(hs.find("lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << hs;
  EXPECT_NE(hs.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(hs.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(hs.find("lat_seconds_sum 5.55\n"), std::string::npos);
  EXPECT_NE(hs.find("lat_seconds_count 3\n"), std::string::npos);
}

TEST(MetricsEndpoint, CountsRequestsRejectionsAndShowsEngineNumbers) {
  test::FakeService service;
  MinerServerOptions o;
  o.http.host = "127.0.0.1";
  o.http.port = 0;
  o.http.limits.max_body_bytes = 1000;
  MinerServer server(o, service);
  server.start();
  auto scrape = [&] {
    test::Client c(server.port());
    c.send(test::get("/metrics"));
    return c.read_response();
  };
  auto before = scrape();
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(before.body.find("route=\"/Prompting\""), std::string::npos);

  {
    test::Client c(server.port());
    c.send(test::post("/Prompting", R"({"messages":["hi"]})"));
    EXPECT_EQ(c.read_response().status, 200);
    c.send(test::post("/Prompting", "[]"));
    EXPECT_EQ(c.read_response().status, 400);
    c.send(test::get("/Nope"));
    EXPECT_EQ(c.read_response().status, 404);
    c.send("POST /Prompting HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
    EXPECT_EQ(c.read_response().status, 413);
  }
  ASSERT_TRUE(test::eventually([&] { return server.metrics().requests("", 404) == 1; }));
  auto after = scrape();
  const std::string& m = after.body;
  EXPECT_NE(m.find("ember_http_requests_total{route=\"/Prompting\",status=\"200\"} 1\n"),
            std::string::npos) << m;
  EXPECT_NE(m.find("ember_http_requests_total{route=\"/Prompting\",status=\"400\"} 1\n"),
            std::string::npos);
  EXPECT_NE(m.find("ember_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(m.find("ember_http_requests_total{route=\"unmatched\",status=\"413\"} 1\n"),
            std::string::npos);
  EXPECT_NE(m.find("ember_completion_tokens_total{api=\"axon\"} 4\n"), std::string::npos);
  EXPECT_NE(m.find("ember_completions_total{api=\"axon\",reason=\"stop\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("ember_engine_queue_depth 3\n"), std::string::npos);
  EXPECT_NE(m.find("ember_kv_cache_usage_ratio 0.25\n"), std::string::npos);
  EXPECT_NE(m.find("ember_generated_tokens_total 1234\n"), std::string::npos);
  EXPECT_NE(m.find("ember_engine_step_seconds_bucket{le=\"0.1\"} 3\n"), std::string::npos);
  EXPECT_NE(m.find("ember_engine_step_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(m.find("ember_http_request_duration_seconds_count{route=\"/Prompting\"} 2\n"),
            std::string::npos);
  server.stop(0ms);
}

}  // namespace
}  // namespace ember::net
