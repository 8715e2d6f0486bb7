#include "net/http/server.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "engine/core/error.h"

namespace ember::net::http {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Connection;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  ServerOptions opts;
  Handler handler;
  CompletionObserver observer;

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> io_threads;
  std::unique_ptr<asio::thread_pool> workers;

  std::mutex mu;  // guards conns, and pairs with cv for the request count
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
  uint64_t next_id = 0;
  std::atomic<size_t> n_conns{0};
  std::atomic<size_t> n_requests{0};
  std::atomic<bool> draining{false};
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;

  void do_accept();
  void reject_connection(tcp::socket sock);
  void observe(const HttpRequest& req, int status, Clock::time_point since) {
    if (!observer) return;
    try {
      observer(req, status, std::chrono::duration<double>(Clock::now() - since).count());
    } catch (...) {
      // Metrics must never take a connection down.
    }
  }
  void request_done() {
    {
      std::lock_guard lk(mu);
      n_requests--;
    }
    cv.notify_all();
  }
  std::vector<std::shared_ptr<Connection>> live_connections();
};

class Connection : public std::enable_shared_from_this<Connection>, public ResponseWriter {
 public:
  Connection(std::shared_ptr<HttpServer::Impl> srv, tcp::socket sock, uint64_t id)
      : srv_(std::move(srv)),
        sock_(std::move(sock)),
        strand_(asio::make_strand(srv_->io)),
        timer_(strand_),
        parser_(srv_->opts.limits),
        id_(id) {
    asio::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) {
      peer_ip_ = ep.address().to_string();
      peer_port_ = ep.port();
    }
    sock_.set_option(tcp::no_delay(true), ec);
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->enter_idle();
      self->do_read();
    });
  }

  // From stop(): idle connections close now; busy ones close after their response.
  void drain() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      if (self->phase_ != Phase::kHandling) self->close();
    });
  }
  void force_close() {
    mark_cancelled();
    asio::dispatch(strand_, [self = shared_from_this()] { self->close(); });
  }
  void force_cancel() { mark_cancelled(); }

  // ResponseWriter (worker thread).
  bool send(const HttpResponse& r) override {
    if (head_sent_) return false;
    head_sent_ = true;
    status_ = r.status;
    keep_alive_ = keep_alive_ && !srv_->draining.load();
    return write_blocking(encode_response(r, keep_alive_, req_.http_minor));
  }
  bool begin_stream(int status, const HeaderList& headers) override {
    if (head_sent_) return false;
    head_sent_ = true;
    streaming_ = true;
    status_ = status;
    // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
    if (req_.http_minor == 0) keep_alive_ = false;
    keep_alive_ = keep_alive_ && !srv_->draining.load();
    return write_blocking(encode_head(status, headers, -1, keep_alive_, req_.http_minor));
  }
  bool write_chunk(std::string_view data) override {
    if (!streaming_ || stream_ended_) return false;
    if (data.empty()) return !cancelled();  // an empty chunk would end the body
    return write_blocking(req_.http_minor == 0 ? std::string(data) : encode_chunk(data));
  }
  bool end_stream() override {
    if (!streaming_ || stream_ended_) return false;
    stream_ended_ = true;
    if (req_.http_minor == 0) return !cancelled();
    return write_blocking(std::string(kLastChunk));
  }
  bool cancelled() const override { return cancelled_.load(); }
  void on_cancel(std::function<void()> fn) override {
    std::unique_lock lk(hook_mu_);
    if (cancelled_.load()) {
      lk.unlock();
      if (fn) fn();
      return;
    }
    cancel_hook_ = std::move(fn);
  }

 private:
  enum class Phase { kIdle, kReading, kHandling, kClosed };

  void enter_idle() {
    phase_ = Phase::kIdle;
    arm_timer(srv_->opts.idle_timeout);
  }

  void arm_timer(std::chrono::milliseconds d) {
    uint64_t gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen](const asio::error_code& ec) {
      if (ec || gen != self->timer_gen_) return;
      self->on_timeout();
    });
  }
  void disarm_timer() {
    ++timer_gen_;
    timer_.cancel();
  }

  void on_timeout() {
    switch (phase_) {
      case Phase::kIdle:
        close();
        break;
      case Phase::kReading:
        // A client that trickles its request gets a 408 and loses the connection.
        reply_error_and_close(408, "request not received in time");
        break;
      case Phase::kHandling:
        // Only writes arm the timer while a handler runs: the client stopped reading.
        mark_cancelled();
        close();
        break;
      case Phase::kClosed:
        break;
    }
  }

  void do_read() {
    if (read_pending_ || phase_ == Phase::kClosed) return;
    read_pending_ = true;
    sock_.async_read_some(
        asio::buffer(rbuf_),
        asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec,
                                                                 size_t n) {
          self->read_pending_ = false;
          self->on_read(ec, n);
        }));
  }

  void on_read(const asio::error_code& ec, size_t n) {
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      if (phase_ == Phase::kHandling) {
        // The client went away mid-request: stop generating for it.
        peer_gone_ = true;
        mark_cancelled();
      } else {
        close();
      }
      return;
    }
    inbuf_.append(rbuf_.data(), n);
    if (phase_ == Phase::kHandling) {
      // Keep reading only to notice a disconnect; buffer pipelined bytes up to one request.
      if (inbuf_.size() <= srv_->opts.limits.max_header_bytes + srv_->opts.limits.max_body_bytes)
        do_read();
      return;
    }
    process_input();
  }

  void process_input() {
    while (phase_ == Phase::kIdle || phase_ == Phase::kReading) {
      size_t consumed = 0;
      auto st = parser_.feed(inbuf_, consumed);
      inbuf_.erase(0, consumed);
      if (parser_.started() && phase_ == Phase::kIdle) {
        phase_ = Phase::kReading;
        req_start_ = Clock::now();
        arm_timer(srv_->opts.read_timeout);
      }
      if (st == RequestParser::State::kError) {
        reply_error_and_close(parser_.error_status(), parser_.error_message());
        return;
      }
      if (st == RequestParser::State::kNeedMore) {
        if (parser_.wants_continue() && !continue_sent_) {
          continue_sent_ = true;
          write_async(std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n"), false);
        }
        do_read();
        return;
      }
      dispatch_request();
      return;
    }
  }

  void dispatch_request() {
    req_ = parser_.take();
    parser_.reset();
    continue_sent_ = false;
    req_.peer_ip = peer_ip_;
    req_.peer_port = peer_port_;
    keep_alive_ = req_.keep_alive;
    head_sent_ = streaming_ = stream_ended_ = false;
    status_ = 0;
    phase_ = Phase::kHandling;
    disarm_timer();
    {
      std::lock_guard lk(srv_->mu);
      srv_->n_requests++;
    }
    asio::post(*srv_->workers, [self = shared_from_this()] { self->run_handler(); });
    do_read();
  }

  void run_handler() {
    try {
      srv_->handler(req_, *this);
      clear_hook();
      // Nothing was sent because the client left or shutdown cancelled it: counted as 499
      // ("client closed request"), as no status reached anyone.
      if (!head_sent_ && cancelled()) status_ = 499;
      else if (!head_sent_) send(json_error(500, "handler produced no response"));
      else if (streaming_ && !stream_ended_) end_stream();
    } catch (const std::exception& e) {
      clear_hook();
      if (!head_sent_) send(json_error(500, std::string("Internal Server Error: ") + e.what()));
      else keep_alive_ = false;  // the body is cut: the client must see the connection end
    } catch (...) {
      clear_hook();
      if (!head_sent_) send(json_error(500, "Internal Server Error"));
      else keep_alive_ = false;
    }
    asio::dispatch(strand_, [self = shared_from_this()] { self->on_handler_done(); });
  }

  void clear_hook() {
    std::lock_guard lk(hook_mu_);
    cancel_hook_ = nullptr;
  }

  void on_handler_done() {
    srv_->observe(req_, status_, req_start_);
    srv_->request_done();
    if (phase_ == Phase::kClosed) return;
    if (!keep_alive_ || peer_gone_ || cancelled_.load() || srv_->draining.load()) {
      close();
      return;
    }
    enter_idle();
    process_input();
  }

  void reply_error_and_close(int status, const std::string& message) {
    HttpRequest partial = parser_.take();
    partial.peer_ip = peer_ip_;
    partial.route.clear();
    srv_->observe(partial, status, phase_ == Phase::kReading ? req_start_ : Clock::now());
    phase_ = Phase::kHandling;  // no more reads are parsed
    auto buf = std::make_shared<std::string>(encode_response(json_error(status, message), false, 1));
    write_async(buf, true);
  }

  // Fire-and-forget write from the strand (interim and error responses).
  void write_async(std::shared_ptr<std::string> buf, bool close_after) {
    arm_timer(srv_->opts.write_timeout);
    asio::async_write(sock_, asio::buffer(*buf),
                      asio::bind_executor(strand_, [self = shared_from_this(), buf, close_after](
                                                       const asio::error_code& ec, size_t) {
                        if (ec || close_after) self->close();
                      }));
  }

  // From a worker: queue a write on the strand and wait for it to finish.
  bool write_blocking(std::string data) {
    if (cancelled_.load()) return false;
    auto buf = std::make_shared<std::string>(std::move(data));
    auto done = std::make_shared<std::promise<bool>>();
    auto fut = done->get_future();
    asio::dispatch(strand_, [self = shared_from_this(), buf, done] {
      if (self->phase_ == Phase::kClosed) {
        done->set_value(false);
        return;
      }
      self->arm_timer(self->srv_->opts.write_timeout);
      asio::async_write(self->sock_, asio::buffer(*buf),
                        asio::bind_executor(self->strand_, [self, buf, done](
                                                               const asio::error_code& ec, size_t) {
                          self->disarm_timer();
                          if (ec) {
                            self->peer_gone_ = true;
                            self->mark_cancelled();
                          }
                          done->set_value(!ec);
                        }));
    });
    return fut.get();
  }

  void mark_cancelled() {
    if (cancelled_.exchange(true)) return;
    std::function<void()> hook;
    {
      std::lock_guard lk(hook_mu_);
      hook = std::move(cancel_hook_);
      cancel_hook_ = nullptr;
    }
    if (hook) hook();
  }

  void close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    disarm_timer();
    asio::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    {
      std::lock_guard lk(srv_->mu);
      srv_->conns.erase(id_);
      srv_->n_conns--;
    }
    srv_->cv.notify_all();
  }

  std::shared_ptr<HttpServer::Impl> srv_;
  tcp::socket sock_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  RequestParser parser_;
  uint64_t id_;
  std::string peer_ip_;
  uint16_t peer_port_ = 0;

  // Strand state.
  Phase phase_ = Phase::kIdle;
  std::array<char, 16 * 1024> rbuf_{};
  std::string inbuf_;
  bool read_pending_ = false;
  bool continue_sent_ = false;
  bool peer_gone_ = false;
  uint64_t timer_gen_ = 0;
  Clock::time_point req_start_ = Clock::now();

  // The current request: written on the strand before the handler is posted, then owned by
  // the worker until on_handler_done (the post/dispatch pair orders the accesses).
  HttpRequest req_;
  bool keep_alive_ = true;
  bool head_sent_ = false;
  bool streaming_ = false;
  bool stream_ended_ = false;
  int status_ = 0;

  std::atomic<bool> cancelled_{false};
  std::mutex hook_mu_;
  std::function<void()> cancel_hook_;
};

std::vector<std::shared_ptr<Connection>> HttpServer::Impl::live_connections() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lk(mu);
  for (auto& [id, w] : conns)
    if (auto c = w.lock()) out.push_back(std::move(c));
  return out;
}

void HttpServer::Impl::do_accept() {
  acceptor.async_accept([self = shared_from_this()](const asio::error_code& ec, tcp::socket sock) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      // Out of file descriptors and the like: keep accepting, the condition may pass.
      self->do_accept();
      return;
    }
    if (self->draining.load()) return;
    if (self->n_conns.load() >= self->opts.max_connections) {
      self->reject_connection(std::move(sock));
    } else {
      uint64_t id;
      std::shared_ptr<Connection> conn;
      {
        std::lock_guard lk(self->mu);
        id = self->next_id++;
        conn = std::make_shared<Connection>(self, std::move(sock), id);
        self->conns.emplace(id, conn);
        self->n_conns++;
      }
      conn->start();
    }
    self->do_accept();
  });
}

void HttpServer::Impl::reject_connection(tcp::socket sock) {
  auto s = std::make_shared<tcp::socket>(std::move(sock));
  auto buf = std::make_shared<std::string>(
      encode_response(json_error(503, "too many connections"), false, 1));
  HttpRequest none;
  observe(none, 503, Clock::now());
  asio::async_write(*s, asio::buffer(*buf), [s, buf](const asio::error_code&, size_t) {
    asio::error_code ec;
    s->shutdown(tcp::socket::shutdown_both, ec);
    s->close(ec);
  });
}

HttpServer::HttpServer(ServerOptions opts, Handler handler, CompletionObserver observer)
    : impl_(std::make_shared<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->handler = std::move(handler);
  impl_->observer = std::move(observer);
}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

void HttpServer::start() {
  Impl& s = *impl_;
  if (s.started) fail("http server: already started");
  asio::error_code ec;
  auto addr = asio::ip::make_address(s.opts.host, ec);
  if (ec) fail("http server: bad listen address '{}': {}", s.opts.host, ec.message());
  tcp::endpoint ep(addr, s.opts.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("http server: cannot listen on {}:{}: {}", s.opts.host, s.opts.port, ec.message());
  s.bound_port = s.acceptor.local_endpoint().port();
  s.workers = std::make_unique<asio::thread_pool>(std::max(1, s.opts.worker_threads));
  s.work.emplace(asio::make_work_guard(s.io));
  s.do_accept();
  for (int i = 0; i < std::max(1, s.opts.io_threads); ++i)
    s.io_threads.emplace_back([&s] { s.io.run(); });
  s.started = true;
}

uint16_t HttpServer::port() const { return impl_->bound_port; }
size_t HttpServer::active_connections() const { return impl_->n_conns.load(); }
size_t HttpServer::active_requests() const { return impl_->n_requests.load(); }

void HttpServer::stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.draining = true;
  asio::post(s.io, [&s] {
    asio::error_code ec;
    s.acceptor.close(ec);
  });
  for (auto& c : s.live_connections()) c->drain();

  {
    std::unique_lock lk(s.mu);
    s.cv.wait_for(lk, grace, [&] { return s.n_requests.load() == 0; });
  }
  // Past the grace period: cancel what is left; handlers see cancelled() and their writes fail.
  for (auto& c : s.live_connections()) c->force_close();
  s.workers->join();
  for (auto& c : s.live_connections()) c->force_close();
  {
    std::unique_lock lk(s.mu);
    s.cv.wait_for(lk, std::chrono::seconds(2), [&] { return s.n_conns.load() == 0; });
  }
  s.work.reset();
  s.io.stop();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
}

}  // namespace ember::net::http
