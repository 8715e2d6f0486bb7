#pragma once
// HTTP/1.1 server on standalone Asio. I/O runs on a few threads; each complete request is handed
// to a worker pool where its handler may block (pulling text from the engine) and answer with
// one response or a chunked stream. Limits and timeouts keep a misbehaving client from pinning
// resources; stop() drains in-flight requests for a grace period, then cancels them.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/http/request.h"
#include "net/http/request_parser.h"
#include "net/http/response.h"

namespace ember::net::http {

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8091;                  // 0: an ephemeral port (see HttpServer::port())
  int io_threads = 1;
  int worker_threads = 64;               // requests handled at once; more wait in a queue
  size_t max_connections = 1024;         // beyond: 503 and close
  ParseLimits limits;
  // From the first byte of a request to its last (slowloris bound), and between requests on a
  // kept-alive connection.
  std::chrono::milliseconds read_timeout{15000};
  std::chrono::milliseconds idle_timeout{60000};
  // One write that does not finish in this time (client not reading) closes the connection.
  std::chrono::milliseconds write_timeout{30000};
};

// How a handler answers. Called from a worker thread; blocking. Every method returns false once
// the client is gone (or the server is cancelling), so a handler can stop early.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual bool send(const HttpResponse& r) = 0;
  // Chunked streaming: the head, then any number of chunks, then end_stream().
  virtual bool begin_stream(int status, const HeaderList& headers) = 0;
  virtual bool write_chunk(std::string_view data) = 0;
  virtual bool end_stream() = 0;
  // True once the client disconnected or the server's grace period ran out.
  virtual bool cancelled() const = 0;
  // `fn` runs once, from any thread, when the request becomes cancelled (immediately if it
  // already is). A later call replaces an earlier hook.
  virtual void on_cancel(std::function<void()> fn) = 0;
};

using Handler = std::function<void(HttpRequest& req, ResponseWriter& w)>;

// Called once per answered request, including requests refused by the parser or the limits
// (then req.route is "" and the method/path may be empty). For metrics and logs.
using CompletionObserver = std::function<void(const HttpRequest& req, int status, double seconds)>;

class HttpServer {
 public:
  HttpServer(ServerOptions opts, Handler handler, CompletionObserver observer = {});
  ~HttpServer();   // stop(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the threads; throws ember::Error when the address cannot be bound.
  void start();
  uint16_t port() const;   // the bound port (after start)
  // Stops accepting, lets in-flight requests finish for up to `grace`, then cancels them and
  // closes every connection. Returns when all threads have exited. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  size_t active_connections() const;
  size_t active_requests() const;

  struct Impl;  // opaque; public so the connection type in server.cc can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ember::net::http
