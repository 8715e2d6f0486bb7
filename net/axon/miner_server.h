#pragma once
// Everything `ember serve` listens with, on one port: the axon synapses, the OpenAI-compatible
// API, POST /availability, GET /health and GET /metrics, over one HttpServer and one
// CompletionService.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/axon/axon_handler.h"
#include "net/completion_service.h"
#include "net/http/router.h"
#include "net/http/server.h"
#include "net/metrics/server_metrics.h"
#include "net/openai/openai_handler.h"

namespace ember::net {

struct MinerServerOptions {
  http::ServerOptions http;
  axon::AxonOptions axon;
  openai::OpenAIOptions openai;
  bool enable_axon = true;
  bool enable_openai = true;
  // The task classes POST /availability claims ("*": every task asked about).
  std::vector<std::string> tasks = {"InferenceTask"};
};

class MinerServer {
 public:
  // `service` must outlive the server.
  MinerServer(MinerServerOptions opts, CompletionService& service);
  ~MinerServer();

  void start();                    // throws ember::Error when the port cannot be bound
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  uint16_t port() const { return server_->port(); }
  metrics::ServerMetrics& metrics() { return metrics_; }
  const axon::AxonHandler* axon() const { return axon_.get(); }

 private:
  MinerServerOptions opts_;
  CompletionService& service_;
  metrics::ServerMetrics metrics_;
  http::Router router_;
  std::unique_ptr<axon::AxonHandler> axon_;
  std::unique_ptr<openai::OpenAIHandler> openai_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace ember::net
