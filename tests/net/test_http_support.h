#pragma once
// Test helpers for net/: a scripted CompletionService and a blocking raw-socket HTTP client that
// never hangs a test (every receive has a timeout).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/completion_service.h"
#include "tests/test_support.h"

namespace ember::net::test {

// Waits (bounded, ~5 s) for a condition another thread makes true. Metrics are recorded just
// after a response is written, so a client may read the response a moment before the count.
template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 1000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

// A stream that yields scripted pieces. In `hold` mode it yields nothing until released or
// cancelled; `honor_deadline` makes it end with kDeadline at the request's deadline.
class FakeStream : public CompletionStream {
 public:
  // `tokens`, when given, go one per piece (logprobs were asked for).
  FakeStream(std::vector<std::string> pieces, FinishReason finish, bool hold, bool honor_deadline,
             std::chrono::steady_clock::time_point deadline, std::vector<GeneratedToken> tokens = {})
      : tokens_(tokens.begin(), tokens.end()),
        pieces_(pieces.begin(), pieces.end()),
        finish_(finish),
        hold_(hold),
        honor_deadline_(honor_deadline),
        deadline_(deadline) {}

  bool next(CompletionPiece& out, std::chrono::steady_clock::time_point until) override {
    std::unique_lock lk(mu_);
    auto limit = until;
    if (honor_deadline_ && deadline_ < limit) limit = deadline_;
    bool woke = cv_.wait_until(lk, limit, [&] { return cancelled_ || !hold_; });
    if (cancelled_) {
      out.done = true;
      out.finish = FinishReason::kCancelled;
      out.usage.completion_tokens = produced_;
      return true;
    }
    if (!woke) {
      if (honor_deadline_ && std::chrono::steady_clock::now() >= deadline_) {
        out.done = true;
        out.finish = FinishReason::kDeadline;
        out.usage.completion_tokens = produced_;
        return true;
      }
      return false;
    }
    if (!pieces_.empty()) {
      out.text = pieces_.front();
      pieces_.pop_front();
      if (!tokens_.empty()) {
        out.tokens = {tokens_.front()};
        tokens_.pop_front();
      }
      ++produced_;
    }
    out.usage.prompt_tokens = 7;
    out.usage.completion_tokens = produced_;
    if (pieces_.empty()) {
      out.done = true;
      out.finish = finish_;
      if (finish_ == FinishReason::kError) out.error = "fake engine failure";
    }
    return true;
  }
  void cancel() override {
    {
      std::lock_guard lk(mu_);
      cancelled_ = true;
    }
    cancel_calls++;
    cv_.notify_all();
  }
  void release() {
    {
      std::lock_guard lk(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  std::atomic<int> cancel_calls{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GeneratedToken> tokens_;
  std::deque<std::string> pieces_;
  FinishReason finish_;
  bool hold_;
  bool honor_deadline_;
  std::chrono::steady_clock::time_point deadline_;
  bool cancelled_ = false;
  int64_t produced_ = 0;
};

// Hands out a stream the service keeps too, so tests can inspect it after the request ended.
class StreamRef : public CompletionStream {
 public:
  explicit StreamRef(std::shared_ptr<FakeStream> s) : s_(std::move(s)) {}
  bool next(CompletionPiece& out, std::chrono::steady_clock::time_point until) override {
    return s_->next(out, until);
  }
  void cancel() override { s_->cancel(); }

 private:
  std::shared_ptr<FakeStream> s_;
};

class FakeService : public CompletionService {
 public:
  std::vector<std::string> pieces = {"Hello", ", ", "world", "!"};
  FinishReason finish = FinishReason::kStop;
  bool hold = false;
  bool honor_deadline = false;
  bool busy = false;

  std::unique_ptr<CompletionStream> start(const CompletionRequest& req) override {
    std::lock_guard lk(mu_);
    calls++;
    last_ = req;
    if (busy) throw ServiceBusy{"queue full"};
    // As the engine adapter: a prompt that leaves no room for the reply is refused.
    if (max_model_len_value > 0 &&
        int64_t(req.prompt_ids.size()) + std::max(req.max_tokens, 1) > max_model_len_value)
      throw std::invalid_argument("This model's maximum context length is " +
                                  std::to_string(max_model_len_value) + " tokens");
    std::vector<GeneratedToken> tokens;
    if (req.logprobs >= 0)
      for (size_t i = 0; i < pieces.size(); ++i) tokens.push_back(fake_token(i, req.logprobs));
    auto s = std::make_shared<FakeStream>(pieces, finish, hold, honor_deadline, req.deadline,
                                          std::move(tokens));
    streams.push_back(s);
    return std::make_unique<StreamRef>(s);
  }
  std::string model_name() const override { return "fake-model"; }
  std::vector<std::string> served_model_names() const override {
    return {"fake-model", "org/fake-model"};
  }

  // Logprobs: piece i is token 100+i, its string token_strs[i] when set (else the piece's text),
  // its logprob -(i+1)/4; alternative k is token 1000+k, "alt<k>", logprob -(k+1)/2.
  std::vector<std::string> token_strs;
  GeneratedToken fake_token(size_t i, int n) const {
    GeneratedToken t;
    t.chosen = {static_cast<int32_t>(100 + i), i < token_strs.size() ? token_strs[i] : pieces[i],
                -0.25f * static_cast<float>(i + 1)};
    for (int k = 0; k < n; ++k)
      t.top.push_back({1000 + k, "alt" + std::to_string(k), -0.5f * static_cast<float>(k + 1)});
    return t;
  }

  // A byte tokenizer: byte b is token b+3, BOS is 1 (added when asked), ids above 258 unknown.
  std::vector<int32_t> tokenize(const std::string& text, bool add_special) const override {
    std::vector<int32_t> ids;
    if (add_special) ids.push_back(1);
    for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) + 3);
    return ids;
  }
  std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages) const override {
    std::string text;
    for (const auto& m : messages) text += "<" + m.role + ">" + m.content;
    return tokenize(text + "<assistant>", false);
  }
  std::string detokenize(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id < 0 || id > 258) throw std::invalid_argument("token id " + std::to_string(id) + " is out of range [0, 259)");
      if (id >= 3) out += static_cast<char>(id - 3);
    }
    return out;
  }
  int max_model_len_value = 0;
  int max_model_len() const override { return max_model_len_value; }
  int max_logprobs_value = 20;
  int max_logprobs() const override { return max_logprobs_value; }
  EngineStats stats() const override {
    EngineStats s;
    s.queue_depth = 3;
    s.running = 2;
    s.kv_blocks_used = 25;
    s.kv_blocks_total = 100;
    s.generated_tokens_total = 1234;
    s.step_seconds.upper_bounds = {0.01, 0.1};
    s.step_seconds.bucket_counts = {1, 2, 0};
    s.step_seconds.sum = 0.2;
    s.step_seconds.count = 3;
    return s;
  }
  std::shared_ptr<FakeStream> stream(size_t i) {
    std::lock_guard lk(mu_);
    return i < streams.size() ? streams[i] : nullptr;
  }

  // The last request started (a copy: handlers run on other threads).
  CompletionRequest last_request() {
    std::lock_guard lk(mu_);
    return last_;
  }

  std::atomic<int> calls{0};

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<FakeStream>> streams;
  CompletionRequest last_;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;                             // de-chunked
  std::vector<std::string> chunks;              // chunk payloads as received (chunked only)
  bool closed = false;                          // the server closed the connection after it
};

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A blocking client socket with a receive timeout, so a server bug fails a test instead of
// hanging it.
class Client {
 public:
  explicit Client(uint16_t port, int recv_timeout_ms = 10000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { close(); }
  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes into the buffer; false on EOF, error or timeout.
  bool fill() {
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  // True when the server closed the connection (EOF) within the receive timeout.
  bool wait_closed() {
    while (fill()) {
    }
    return eof_;
  }

  // Reads one response (status 100 interim responses are skipped).
  Response read_response() {
    Response r;
    for (;;) {
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return r;
      std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      r.status = std::atoi(head.c_str() + 9);
      r.headers.clear();
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                                          : next - pos - 2);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
          std::string v = line.substr(colon + 1);
          while (!v.empty() && v[0] == ' ') v.erase(0, 1);
          r.headers[lower(line.substr(0, colon))] = v;
        }
        pos = next;
      }
      if (r.status != 100) break;
    }
    if (r.headers.count("content-length")) {
      size_t len = std::stoul(r.headers["content-length"]);
      while (buf_.size() < len)
        if (!fill()) break;
      r.body = buf_.substr(0, len);
      buf_.erase(0, std::min(len, buf_.size()));
    } else if (r.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
          if (!fill()) return r;
        size_t len = std::stoul(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + len + 2)
          if (!fill()) return r;
        std::string data = buf_.substr(eol + 2, len);
        buf_.erase(0, eol + 2 + len + 2);
        if (len == 0) break;
        r.chunks.push_back(data);
        r.body += data;
      }
    } else {
      while (fill()) {
      }
      r.body = buf_;
      buf_.clear();
    }
    if (r.headers["connection"] == "close") r.closed = true;
    return r;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

inline std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

inline std::string post(const std::string& path, const std::string& body,
                        const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Runs a shell command and returns its stdout.
inline std::string run_command(const std::string& cmd) { return ::ember::test::run_command(cmd).out; }

}  // namespace ember::net::test
