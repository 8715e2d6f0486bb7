// Best-of-n for unique replies over a scripted CompletionService: candidates each get a style
// and a seed, the centroid-farthest passing one is returned, the deadline bounds the wait, and
// an upstream that is down, slow or failing never fails the request.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "net/http/server.h"
#include "net/unique/unique_reply_service.h"

namespace ember::net::unique {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Script {
  std::vector<std::string> tokens;
  float logprob = -0.5f;
  milliseconds per_token{1};
  FinishReason finish = FinishReason::kStop;
};

// Yields one token per piece (as the engine does with logprobs), on a schedule, honouring the
// request's deadline and cancel().
class FakeStream : public CompletionStream {
 public:
  FakeStream(Script s, Clock::time_point deadline) : s_(std::move(s)), t0_(Clock::now()), deadline_(deadline) {}
  bool next(CompletionPiece& out, Clock::time_point until) override {
    if (ended_) return false;
    const auto ready = t0_ + s_.per_token * int(i_ + 1);
    const bool more = i_ < s_.tokens.size();
    const auto when = more ? std::min(ready, deadline_) : Clock::now();
    while (!cancelled_ && Clock::now() < when) {
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(milliseconds(1));
    }
    out = CompletionPiece{};
    out.usage.prompt_tokens = 7;
    if (cancelled_ || !more || Clock::now() >= deadline_) {
      out.done = ended_ = true;
      out.finish = cancelled_ ? FinishReason::kCancelled : more ? FinishReason::kDeadline : s_.finish;
      out.usage.completion_tokens = int64_t(i_);
      return true;
    }
    out.text = s_.tokens[i_++];
    out.tokens.push_back({{1, out.text, s_.logprob}, {}});
    out.usage.completion_tokens = int64_t(i_);
    return true;
  }
  void cancel() override { cancelled_ = true; }

 private:
  Script s_;
  Clock::time_point t0_, deadline_;
  size_t i_ = 0;
  bool ended_ = false;
  std::atomic<bool> cancelled_{false};
};

class FakeService : public CompletionService {
 public:
  std::function<Script(const CompletionRequest&)> script;
  std::unique_ptr<CompletionStream> start(const CompletionRequest& req) override {
    {
      std::lock_guard lk(mu);
      seen.push_back(req);
    }
    return std::make_unique<FakeStream>(script(req), req.deadline);
  }
  std::string model_name() const override { return "fake"; }
  std::mutex mu;
  std::vector<CompletionRequest> seen;
};

// The candidate's index, from the request id the decorator gives it ("r/2" -> 2).
int index_of(const CompletionRequest& r) { return std::stoi(r.request_id.substr(r.request_id.rfind('/') + 1)); }

Script words(const std::string& text, float lp = -0.5f, milliseconds per = milliseconds(1)) {
  Script s;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i + 1);
    if (j == std::string::npos) j = text.size();
    s.tokens.push_back(text.substr(i, j - i));
    i = j;
  }
  s.logprob = lp;
  s.per_token = per;
  return s;
}

// reply-0 and reply-1 agree; reply-2 is off to the side. The prompt (embedded last) is a zero
// vector, which turns the floor's relevance check off (test_reply_selection covers it).
std::vector<std::vector<float>> fake_embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  for (const auto& t : texts) {
    if (t.find("reply-0") != std::string::npos) out.push_back({1, 0});
    else if (t.find("reply-1") != std::string::npos) out.push_back({0.98f, 0.2f});
    else if (t.find("reply-2") != std::string::npos) out.push_back({0.5f, 0.866f});
    else if (t.find("sky blue?") != std::string::npos) out.push_back({0, 0});  // the prompt: no relevance check
    else out.push_back({0, 1});
  }
  return out;
}

CompletionRequest request(uint64_t seed, milliseconds budget = milliseconds(10000)) {
  CompletionRequest r;
  r.messages = {{"system", "You are a helpful assistant."}, {"user", "Why is the sky blue?"}};
  r.max_tokens = 64;
  r.seed = seed;
  r.request_id = "r";
  r.deadline = Clock::now() + budget;
  return r;
}

std::pair<std::string, FinishReason> drain(CompletionStream& s) {
  std::string text;
  CompletionPiece p;
  for (;;) {
    p = CompletionPiece{};
    if (!s.next(p, Clock::now() + milliseconds(100))) continue;
    text += p.text;
    if (p.done) return {text, p.finish};
  }
}

UniqueOptions options(int n) {
  UniqueOptions o;
  o.best_of = n;
  o.styles = StyleBook::builtin();
  o.embed = fake_embed;
  o.select_budget = milliseconds(100);
  return o;
}

TEST(UniqueReplyService, ReturnsTheCentroidFarthestCandidate) {
  FakeService inner;
  inner.script = [](const CompletionRequest& r) {
    return words("This is reply-" + std::to_string(index_of(r)) + " about the sky");
  };
  std::map<std::string, int> drawn, chosen;
  UniqueOptions o = options(3);
  o.on_style = [&](std::string_view s, bool c) { ++(c ? chosen : drawn)[std::string(s)]; };
  UniqueReplyService svc(inner, o);
  const CompletionRequest req = request(42);
  auto stream = svc.start(req);
  auto [text, finish] = drain(*stream);
  EXPECT_EQ(text, "This is reply-2 about the sky");
  EXPECT_EQ(finish, FinishReason::kStop);

  ASSERT_EQ(inner.seen.size(), 3u);
  std::set<uint64_t> seeds;
  for (const auto& c : inner.seen) {
    seeds.insert(*c.seed);
    EXPECT_EQ(c.logprobs, 0);  // the quality floor needs each token's logprob
    EXPECT_LE(c.deadline, req.deadline - milliseconds(100));
    ASSERT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(c.messages[0].role, "system");
    const std::string& sys = c.messages[0].content;
    EXPECT_EQ(sys.rfind("You are a helpful assistant.\n\n", 0), 0u) << sys;
    EXPECT_GT(sys.size(), 40u);
  }
  EXPECT_EQ(seeds.size(), 3u);
  int total = 0;
  for (auto& [_, n] : drawn) total += n;
  EXPECT_EQ(total, 3);
  ASSERT_EQ(chosen.size(), 1u);
  // The chosen style is the third candidate's.
  EXPECT_EQ(chosen.begin()->first, StyleBook::builtin().draw(42, 2).name);
}

TEST(UniqueReplyService, AnchorsRunUnstyledAtStockSettingsAndSetTheConsensus) {
  FakeService inner;
  // Candidates 0-2 as above; 3 and 4 are the anchors, embedded at (0,1): reply-0 lies farthest
  // from them (the centroid rule would take reply-2).
  inner.script = [](const CompletionRequest& r) {
    const int i = index_of(r);
    return words(i < 3 ? "This is reply-" + std::to_string(i) : "A stock answer " + std::to_string(i));
  };
  UniqueOptions o = options(3);
  o.anchors = 2;
  o.placement = StylePlacement::kMixed;
  std::vector<std::string> log;
  o.log = [&](const std::string& line) { log.push_back(line); };
  UniqueReplyService svc(inner, o);
  CompletionRequest req = request(42);
  req.temperature = 1.2f;
  req.top_k = 40;
  req.presence_penalty = 0.5f;
  EXPECT_EQ(drain(*svc.start(req)).first, "This is reply-0");
  ASSERT_EQ(inner.seen.size(), 5u);
  std::sort(inner.seen.begin(), inner.seen.end(),
            [](const CompletionRequest& a, const CompletionRequest& b) { return index_of(a) < index_of(b); });
  // Candidates keep the request's sampling; mixed placement puts candidate 1's style after the
  // user's words and leaves the system turn as sent.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*inner.seen[size_t(i)].temperature, 1.2f);
  EXPECT_GT(inner.seen[0].messages[0].content.size(), req.messages[0].content.size());
  EXPECT_EQ(inner.seen[1].messages[0].content, req.messages[0].content);
  EXPECT_EQ(inner.seen[1].messages[1].content.rfind("Why is the sky blue?\n\n(", 0), 0u);
  // Anchors: the conversation as sent, greedy then 0.7 / 0.95, no other knobs, own seeds.
  for (int i = 3; i < 5; ++i) {
    const CompletionRequest& a = inner.seen[size_t(i)];
    EXPECT_EQ(a.messages.size(), req.messages.size());
    EXPECT_EQ(a.messages[0].content, req.messages[0].content);
    EXPECT_EQ(a.messages[1].content, req.messages[1].content);
    EXPECT_EQ(*a.top_p, 0.95f);
    EXPECT_EQ(*a.top_k, 0);
    EXPECT_EQ(*a.presence_penalty, 0.0f);
    EXPECT_EQ(a.logprobs, 0);
  }
  EXPECT_EQ(*inner.seen[3].temperature, 0.0f);
  EXPECT_EQ(*inner.seen[4].temperature, 0.7f);
  EXPECT_NE(*inner.seen[3].seed, *inner.seen[4].seed);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("#3 anchor style=- stop"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("@after"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("=> #0"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("farthest from the nearest anchor"), std::string::npos) << log[0];
}

TEST(UniqueReplyService, TheSameSeedDrawsTheSameCandidates) {
  FakeService inner;
  inner.script = [](const CompletionRequest& r) { return words("reply-" + std::to_string(index_of(r))); };
  UniqueReplyService svc(inner, options(4));
  drain(*svc.start(request(7)));
  drain(*svc.start(request(7)));
  drain(*svc.start(request(8)));
  ASSERT_EQ(inner.seen.size(), 12u);
  bool differs = false;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(inner.seen[i].messages[0].content, inner.seen[i + 4].messages[0].content);
    EXPECT_EQ(*inner.seen[i].seed, *inner.seen[i + 4].seed);
    differs = differs || inner.seen[i].messages[0].content != inner.seen[i + 8].messages[0].content;
    EXPECT_NE(*inner.seen[i].seed, *inner.seen[i + 8].seed);
  }
  EXPECT_TRUE(differs);
}

TEST(UniqueReplyService, QualityFloorOverridesDistance) {
  FakeService inner;
  inner.script = [](const CompletionRequest& r) {
    const int i = index_of(r);
    // The outlier rambles (low logprob); reply-1 is cut at max_tokens.
    if (i == 2) return words("reply-2 zorp blivet", -4.0f);
    Script s = words("reply-" + std::to_string(i) + " fine answer");
    if (i == 1) s.finish = FinishReason::kLength;
    return s;
  };
  UniqueReplyService svc(inner, options(3));
  EXPECT_EQ(drain(*svc.start(request(1))).first, "reply-0 fine answer");
}

TEST(UniqueReplyService, ShortOnTimeTakesTheBestFinishedCandidate) {
  FakeService inner;
  inner.script = [](const CompletionRequest& r) {
    const int i = index_of(r);
    if (i == 0) return words("reply-0 done quickly");
    return words("reply-" + std::to_string(i) + " a long slow answer that goes on", -0.5f, milliseconds(200));
  };
  UniqueReplyService svc(inner, options(3));
  const auto t0 = Clock::now();
  const CompletionRequest req = request(3, milliseconds(600));
  auto [text, finish] = drain(*svc.start(req));
  EXPECT_EQ(text, "reply-0 done quickly");
  EXPECT_EQ(finish, FinishReason::kStop);
  EXPECT_LT(Clock::now(), req.deadline + milliseconds(150));
  EXPECT_GE(Clock::now() - t0, milliseconds(400));  // it did wait for the others until the budget
}

TEST(UniqueReplyService, ASlowEncoderGetsItsTimeBeforeTheDeadline) {
  FakeService inner;
  bool slow = false;
  inner.script = [&](const CompletionRequest& r) {
    return words("reply-" + std::to_string(index_of(r)) + " goes on and on and on and on and on", -0.5f,
                 milliseconds(slow ? 100 : 1));
  };
  UniqueOptions o = options(3);
  o.select_budget = milliseconds(50);
  o.embed = [](const std::vector<std::string>& texts) {
    std::this_thread::sleep_for(milliseconds(300));
    return fake_embed(texts);
  };
  UniqueReplyService svc(inner, o);
  drain(*svc.start(request(1)));  // learns that embedding takes ~300 ms
  slow = true;                    // now every candidate runs into the deadline
  const CompletionRequest req = request(2, milliseconds(1500));
  auto [text, finish] = drain(*svc.start(req));
  EXPECT_FALSE(text.empty());
  EXPECT_LT(Clock::now(), req.deadline) << "the 50 ms budget alone would end 250 ms late";
}

TEST(UniqueReplyService, SelectFirstReturnsTheFirstPassingOne) {
  FakeService inner;
  inner.script = [](const CompletionRequest& r) {
    const int i = index_of(r);
    return words("reply-" + std::to_string(i) + " answer", -0.5f, milliseconds(i == 1 ? 1 : 300));
  };
  UniqueOptions o = options(3);
  o.select = SelectMode::kFirst;
  UniqueReplyService svc(inner, o);
  const auto t0 = Clock::now();
  EXPECT_EQ(drain(*svc.start(request(5))).first, "reply-1 answer");
  EXPECT_LT(Clock::now() - t0, milliseconds(500));
}

TEST(UniqueReplyService, OneCandidateIsStylesOnlyAndStreamsThrough) {
  FakeService inner;
  inner.script = [](const CompletionRequest&) { return words("just one"); };
  UniqueOptions o = options(1);
  std::string chosen;
  o.on_style = [&](std::string_view s, bool c) {
    if (c) chosen = s;
  };
  UniqueReplyService svc(inner, o);
  CompletionRequest req = request(11);
  req.request_id = "solo";
  EXPECT_EQ(drain(*svc.start(req)).first, "just one");
  ASSERT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(inner.seen[0].logprobs, -1);  // untouched
  EXPECT_EQ(*inner.seen[0].seed, 11u);
  EXPECT_EQ(chosen, StyleBook::builtin().draw(11, 0).name);
}

// A tiny OpenAI-compatible upstream whose behaviour each test sets.
class Upstream {
 public:
  std::function<void(http::HttpRequest&, http::ResponseWriter&)> handler;
  Upstream() {
    http::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.worker_threads = 4;
    server_ = std::make_unique<http::HttpServer>(so, [this](http::HttpRequest& r, http::ResponseWriter& w) {
      ++calls;
      handler(r, w);
    });
    server_->start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1"; }
  std::atomic<int> calls{0};

 private:
  std::unique_ptr<http::HttpServer> server_;
};

void reply_json(http::ResponseWriter& w, int status, std::string body) {
  http::HttpResponse r;
  r.status = status;
  r.header("Content-Type", "application/json");
  r.body = std::move(body);
  w.send(r);
}

UniqueOptions with_upstream(const std::string& url, int best_of = 1) {
  UniqueOptions o = options(best_of);
  UpstreamConfig c;
  c.url = url;
  c.timeout = milliseconds(5000);
  o.upstream = std::make_shared<UpstreamClient>(c);
  o.upstream_candidates = 1;
  return o;
}

TEST(UpstreamClient, ParsesUrlsAndRefusesBadOnes) {
  UpstreamClient c({"http://10.0.0.5:8000/v1/", "", "", milliseconds(1)});
  EXPECT_EQ(c.host(), "10.0.0.5");
  EXPECT_EQ(c.port(), 8000);
  EXPECT_EQ(c.path(), "/v1/chat/completions");
  EXPECT_EQ(UpstreamClient({"http://h", "", "", milliseconds(1)}).path(), "/chat/completions");
  EXPECT_THROW(UpstreamClient({"https://h/v1", "", "", milliseconds(1)}), std::runtime_error);
  EXPECT_THROW(UpstreamClient({"http://h:99999/v1", "", "", milliseconds(1)}), std::runtime_error);
  EXPECT_THROW(UpstreamClient({"http:///v1", "", "", milliseconds(1)}), std::runtime_error);
}

TEST(UpstreamClient, SendsTheChatRequestWithTheKeyAndReadsTheReply) {
  Upstream up;
  std::string body, auth, path;
  up.handler = [&](http::HttpRequest& r, http::ResponseWriter& w) {
    body = r.body;
    path = r.path;
    for (const auto& [k, v] : r.headers)
      if (k == "authorization" || k == "Authorization") auth = v;
    reply_json(w, 200,
               R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\""},"finish_reason":"stop"}],)"
               R"("usage":{"prompt_tokens":3,"completion_tokens":4}})");
  };
  UpstreamClient c({up.url(), "m1", "sekrit", milliseconds(5000)});
  UpstreamCall call;
  call.messages = {{"user", "hello"}};
  call.max_tokens = 9;
  call.temperature = 0.7f;
  call.seed = 5;
  UpstreamReply r = c.complete(call);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Hi \"there\"");
  EXPECT_EQ(r.finish, FinishReason::kStop);
  EXPECT_EQ(r.completion_tokens, 4);
  EXPECT_EQ(path, "/v1/chat/completions");
  EXPECT_EQ(auth, "Bearer sekrit");
  EXPECT_NE(body.find(R"("model":"m1")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("messages":[{"role":"user","content":"hello"}])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("max_tokens":9)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("seed":5)"), std::string::npos) << body;
}

TEST(UniqueReplyService, UpstreamCandidateCanWin) {
  Upstream up;
  up.handler = [](http::HttpRequest&, http::ResponseWriter& w) {
    reply_json(w, 200, R"({"choices":[{"message":{"content":"upstream reply-2 here"},"finish_reason":"stop"}]})");
  };
  FakeService inner;
  inner.script = [](const CompletionRequest& r) { return words("reply-" + std::to_string(index_of(r)) + " local"); };
  UniqueReplyService svc(inner, with_upstream(up.url(), 2));
  EXPECT_EQ(drain(*svc.start(request(9))).first, "upstream reply-2 here");
  EXPECT_EQ(up.calls.load(), 1);
}

TEST(UniqueReplyService, UpstreamDownSlowOrFailingNeverFailsTheRequest) {
  FakeService inner;
  inner.script = [](const CompletionRequest&) { return words("the local answer"); };

  // Down: a port nobody listens on.
  std::string down_url;
  {
    Upstream gone;
    down_url = gone.url();
  }
  // 500, and garbage with a 200.
  Upstream failing;
  failing.handler = [](http::HttpRequest&, http::ResponseWriter& w) { reply_json(w, 500, R"({"error":"boom"})"); };
  Upstream garbage;
  garbage.handler = [](http::HttpRequest&, http::ResponseWriter& w) { reply_json(w, 200, "not json"); };
  // Slow: answers long after the request's deadline.
  Upstream slow;
  slow.handler = [](http::HttpRequest&, http::ResponseWriter& w) {
    std::this_thread::sleep_for(milliseconds(3000));
    reply_json(w, 200, R"({"choices":[{"message":{"content":"too late"},"finish_reason":"stop"}]})");
  };
  for (const std::string& url : {down_url, failing.url(), garbage.url(), slow.url()}) {
    std::vector<std::string> log;
    UniqueOptions o = with_upstream(url);
    o.log = [&](const std::string& l) { log.push_back(l); };
    UniqueReplyService svc(inner, o);
    const CompletionRequest req = request(4, milliseconds(800));
    auto [text, finish] = drain(*svc.start(req));
    EXPECT_EQ(text, "the local answer") << url;
    EXPECT_EQ(finish, FinishReason::kStop) << url;
    EXPECT_LT(Clock::now(), req.deadline + milliseconds(100)) << url;
    ASSERT_EQ(log.size(), 1u);
    EXPECT_NE(log[0].find("upstream"), std::string::npos) << log[0];
  }
}

}  // namespace
}  // namespace ember::net::unique
