#include "net/axon/miner_server.h"

#include "engine/core/error.h"
#include "net/axon/availability.h"
#include "net/http/json_text.h"

namespace ember::net {

MinerServer::MinerServer(MinerServerOptions opts, CompletionService& service)
    : opts_(std::move(opts)), service_(service) {
  router_.add("GET", "/health", [this](http::HttpRequest&, http::ResponseWriter& w) {
    http::HttpResponse r;
    r.header("Content-Type", "application/json");
    r.body = "{\"status\":\"ok\",\"model\":" + http::json_string(service_.model_name()) + "}";
    w.send(r);
  });
  router_.add("GET", "/metrics", [this](http::HttpRequest&, http::ResponseWriter& w) {
    http::HttpResponse r;
    r.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = metrics_.render();
    w.send(r);
  });
  router_.add("POST", "/availability", [this](http::HttpRequest& req, http::ResponseWriter& w) {
    http::HttpResponse r;
    r.header("Content-Type", "application/json");
    try {
      r.body = axon::availability_reply(req.body, service_.served_model_names(), opts_.tasks);
    } catch (const Error& e) {
      w.send(http::json_error(400, std::string("Bad availability request: ") + e.what()));
      return;
    }
    w.send(r);
  });
  if (opts_.enable_openai) {
    openai_ = std::make_unique<openai::OpenAIHandler>(opts_.openai, service_, &metrics_);
    openai_->register_routes(router_);
  }
  if (opts_.enable_axon) {
    axon_ = std::make_unique<axon::AxonHandler>(opts_.axon, service_, &metrics_);
    axon_->register_routes(router_);   // also the 404 fallback for unknown synapse names
  }
  metrics_.set_engine_stats([this] { return service_.stats(); });
  server_ = std::make_unique<http::HttpServer>(
      opts_.http, router_.as_handler(),
      [this](const http::HttpRequest& req, int status, double seconds) {
        metrics_.observe_request(req.route, status, seconds);
        // Only the HTTP parser answers 413: from Content-Length before any body byte is read,
        // or as soon as a chunked body passes the limit.
        if (status == 413) metrics_.observe_auth_rejection("http", "body_too_large");
      });
  metrics_.set_connection_gauges(
      [this] { return static_cast<double>(server_->active_connections()); },
      [this] { return static_cast<double>(server_->active_requests()); });
}

MinerServer::~MinerServer() { stop(std::chrono::milliseconds(0)); }

void MinerServer::start() { server_->start(); }

void MinerServer::stop(std::chrono::milliseconds grace) { server_->stop(grace); }

}  // namespace ember::net
