#include "net/unique/unique_reply_service.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "engine/sample/philox.h"

namespace ember::net::unique {
namespace {

using Clock = std::chrono::steady_clock;

// Part of the Philox counter for candidate seeds ("SEED"), apart from the style draws'.
constexpr uint32_t kSeedPurpose = 0x53454544u;

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

struct UpstreamSlot {
  std::mutex mu;
  bool done = false;
  UpstreamReply reply;
};

int64_t approx_tokens(const std::string& text) {
  int64_t words = 0;
  bool in_word = false;
  for (char ch : text) {
    const bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
    words += !space && !in_word;
    in_word = !space;
  }
  return (words * 4 + 2) / 3;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class UniqueStream : public CompletionStream {
 public:
  struct Local {
    std::unique_ptr<CompletionStream> stream;
    size_t cand = 0;
    bool done = false;
  };
  struct Remote {
    std::shared_ptr<UpstreamSlot> slot;
    size_t cand = 0;
    bool done = false;
  };

  UniqueStream(const UniqueOptions& opts, std::atomic<int64_t>& embed_ns, std::vector<Candidate> cands,
               std::vector<Local> locals, std::vector<Remote> remotes, Clock::time_point collect_until,
               Clock::time_point deadline, std::string request_id, std::string prompt)
      : opts_(opts),
        embed_ns_(embed_ns),
        deadline_(deadline),
        cands_(std::move(cands)),
        locals_(std::move(locals)),
        remotes_(std::move(remotes)),
        collect_until_(collect_until),
        request_id_(std::move(request_id)),
        prompt_(std::move(prompt)),
        started_(Clock::now()) {}

  ~UniqueStream() override {
    for (auto& l : locals_)
      if (!l.done) l.stream->cancel();
  }

  bool next(CompletionPiece& out, Clock::time_point until) override {
    if (!collected_) {
      if (!collect(until)) return false;
      collected_ = true;
      choose();
    }
    out = result_;
    return true;
  }

  void cancel() override {
    cancelled_ = true;
    for (auto& l : locals_) l.stream->cancel();
  }

 private:
  void absorb(const CompletionPiece& p, Candidate& c) {
    c.text += p.text;
    for (const auto& t : p.tokens) {
      c.logprob_sum += std::isfinite(t.chosen.logprob) ? std::max(double(t.chosen.logprob), -30.0) : -30.0;
      ++c.logprob_count;
    }
    c.tokens = p.usage.completion_tokens;
    prompt_tokens_ = std::max(prompt_tokens_, p.usage.prompt_tokens);
    if (p.done) {
      c.finish = p.finish;
      c.error = p.error;
      finish_order_.push_back(size_t(&c - cands_.data()));
    }
  }

  // Drains what each local stream has without waiting. Returns whether anything arrived.
  bool poll_locals() {
    bool progress = false;
    for (auto& l : locals_) {
      if (l.done) continue;
      CompletionPiece p;
      while (l.stream->next(p, Clock::now())) {
        progress = true;
        absorb(p, cands_[l.cand]);
        if (p.done) {
          l.done = true;
          break;
        }
        p = CompletionPiece{};
      }
    }
    return progress;
  }

  bool poll_remotes() {
    bool progress = false;
    for (auto& r : remotes_) {
      if (r.done) continue;
      std::lock_guard lk(r.slot->mu);
      if (!r.slot->done) continue;
      r.done = progress = true;
      Candidate& c = cands_[r.cand];
      const UpstreamReply& u = r.slot->reply;
      if (u.ok) {
        c.text = u.text;
        c.finish = u.finish;
        // Without usage in the reply, about four tokens per three words.
        c.tokens = u.completion_tokens > 0 ? u.completion_tokens : approx_tokens(u.text);
      } else {
        c.finish = FinishReason::kError;
        c.error = "upstream: " + u.error;
      }
      finish_order_.push_back(r.cand);
    }
    return progress;
  }

  bool all_done() const {
    for (const auto& l : locals_)
      if (!l.done) return false;
    for (const auto& r : remotes_)
      if (!r.done) return false;
    return true;
  }

  bool first_passing_done() const {
    for (size_t i : finish_order_)
      if (quality_failure(cands_[i], opts_.floor).empty()) return true;
    return false;
  }

  // Ends what is still running at the collection deadline; local candidates hand in what they
  // have (cut short), an upstream call still out counts as failed.
  void stop_the_rest() {
    for (auto& l : locals_)
      if (!l.done) l.stream->cancel();
    const auto drain_until = Clock::now() + std::chrono::milliseconds(200);
    for (auto& l : locals_) {
      CompletionPiece p;
      while (!l.done && l.stream->next(p, drain_until)) {
        absorb(p, cands_[l.cand]);
        if (p.done) l.done = true;
        p = CompletionPiece{};
      }
      if (!l.done) {
        l.done = true;
        cands_[l.cand].finish = FinishReason::kCancelled;
      }
    }
    for (auto& r : remotes_)
      if (!r.done) {
        r.done = true;
        cands_[r.cand].finish = FinishReason::kError;
        cands_[r.cand].error = "upstream: no answer before the deadline";
      }
  }

  // True when every candidate is in (or time is up); false when `until` came first.
  bool collect(Clock::time_point until) {
    for (;;) {
      bool progress = poll_locals();
      progress = poll_remotes() || progress;
      if (all_done()) return true;
      if (opts_.select == SelectMode::kFirst && first_passing_done()) {
        stop_the_rest();
        return true;
      }
      const auto now = Clock::now();
      if (now >= collect_until_ || cancelled_) {
        stop_the_rest();
        return true;
      }
      if (now >= until) return false;
      if (progress) continue;
      const auto wait = std::min({until, collect_until_, now + std::chrono::milliseconds(5)});
      Local* waiting = nullptr;
      for (auto& l : locals_)
        if (!l.done) {
          waiting = &l;
          break;
        }
      if (!waiting) {
        std::this_thread::sleep_until(wait);
        continue;
      }
      CompletionPiece p;
      if (waiting->stream->next(p, wait)) {
        absorb(p, cands_[waiting->cand]);
        if (p.done) waiting->done = true;
      }
    }
  }

  void choose() {
    Selection sel;
    double embed_s = 0;
    if (opts_.select == SelectMode::kFirst) {
      sel.failures = quality_failures(cands_, opts_.floor);
      for (size_t i : finish_order_)
        if (sel.failures[i].empty()) {
          sel.chosen = int(i);
          sel.why = "first to pass the quality floor";
          break;
        }
      if (sel.chosen < 0) {
        sel.chosen = fallback_choice(cands_);
        sel.why = "fallback: no candidate passed the quality floor";
      }
    } else {
      std::vector<std::vector<float>> emb;
      std::vector<float> prompt_emb;
      int with_text = 0;
      for (const auto& c : cands_) with_text += !c.text.empty();
      const auto estimate = std::chrono::nanoseconds(embed_ns_.load());
      const bool in_time = deadline_ == Clock::time_point::max() || Clock::now() + estimate < deadline_;
      if (opts_.embed && with_text >= 2 && !in_time && opts_.log)
        opts_.log(fmt::format("unique {}: no time left to embed (it takes about {:.2f} s)", request_id_,
                              seconds(estimate)));
      if (opts_.embed && with_text >= 2 && in_time) {
        std::vector<std::string> texts;
        std::vector<size_t> which;
        for (size_t i = 0; i < cands_.size(); ++i)
          if (!cands_[i].text.empty()) {
            texts.push_back(cands_[i].text);
            which.push_back(i);
          }
        // The prompt goes last: the floor's relevance check measures candidates against it.
        if (!prompt_.empty()) texts.push_back(prompt_);
        const auto t0 = Clock::now();
        try {
          auto e = opts_.embed(texts);
          if (e.size() == texts.size()) {
            emb.resize(cands_.size());
            for (size_t k = 0; k < which.size(); ++k) emb[which[k]] = std::move(e[k]);
            if (!prompt_.empty()) prompt_emb = std::move(e.back());
          }
        } catch (const std::exception& ex) {
          if (opts_.log) opts_.log(fmt::format("unique {}: embedding failed ({}); taking the first passing", request_id_, ex.what()));
        }
        embed_s = seconds(Clock::now() - t0);
        const int64_t took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        const int64_t old_ns = embed_ns_.load();
        embed_ns_.store(old_ns == 0 ? took : (3 * old_ns + took) / 4);
      }
      sel = select_unique(cands_, emb, opts_.floor, prompt_emb.empty() ? nullptr : &prompt_emb,
                          opts_.target_distance);
    }

    result_ = CompletionPiece{};
    result_.done = true;
    result_.usage.prompt_tokens = prompt_tokens_;
    if (sel.chosen >= 0) {
      const Candidate& c = cands_[size_t(sel.chosen)];
      result_.text = c.text;
      result_.finish = c.finish == FinishReason::kNone || c.finish == FinishReason::kCancelled
                           ? (cancelled_ ? FinishReason::kCancelled : FinishReason::kDeadline)
                           : c.finish;
      result_.usage.completion_tokens = c.tokens;
      if (opts_.on_style && !c.style.empty()) opts_.on_style(c.style, true);
    } else {
      // Nothing usable: the first error if there was one, else an empty reply cut short.
      result_.finish = cancelled_ ? FinishReason::kCancelled : FinishReason::kDeadline;
      for (const auto& c : cands_)
        if (c.finish == FinishReason::kError) {
          result_.finish = FinishReason::kError;
          result_.error = c.error;
          break;
        }
    }
    if (opts_.log) opts_.log(describe(sel, embed_s));
  }

  std::string describe(const Selection& sel, double embed_s) const {
    std::string s = fmt::format("unique {}: {} candidates in {:.2f} s", request_id_, cands_.size(),
                                seconds(Clock::now() - started_));
    for (size_t i = 0; i < cands_.size(); ++i) {
      const Candidate& c = cands_[i];
      s += fmt::format(" | #{} {} style={}{} {} {} tok", i, c.source, c.style.empty() ? "-" : c.style,
                       c.style_after_prompt ? "@after" : "", finish_reason_name(c.finish), c.tokens);
      if (c.has_logprobs()) s += fmt::format(" lp={:.2f}", c.mean_logprob());
      if (i < sel.consensus_distance.size()) s += fmt::format(" d={:.3f}", sel.consensus_distance[i]);
      if (i < sel.relevance.size()) s += fmt::format(" rel={:.2f}", sel.relevance[i]);
      if (i < sel.expected_reward.size()) s += fmt::format(" reward={:.3f}", sel.expected_reward[i]);
      if (i < sel.failures.size() && !sel.failures[i].empty()) s += " [" + sel.failures[i] + "]";
    }
    if (sel.chosen >= 0)
      s += fmt::format(" => #{} style={} ({}; embed {:.2f} s)", sel.chosen,
                       cands_[size_t(sel.chosen)].style.empty() ? "-" : cands_[size_t(sel.chosen)].style, sel.why,
                       embed_s);
    else
      s += " => none usable";
    return s;
  }

  const UniqueOptions& opts_;
  std::atomic<int64_t>& embed_ns_;
  Clock::time_point deadline_;
  std::vector<Candidate> cands_;
  std::vector<Local> locals_;
  std::vector<Remote> remotes_;
  Clock::time_point collect_until_;
  std::string request_id_;
  std::string prompt_;  // the last user turn, for the relevance check
  Clock::time_point started_;
  std::vector<size_t> finish_order_;
  int64_t prompt_tokens_ = 0;
  std::atomic<bool> cancelled_{false};
  bool collected_ = false;
  CompletionPiece result_;
};

}  // namespace

uint64_t UniqueReplyService::candidate_seed(uint64_t base, uint32_t index) {
  const PhiloxCounter c = philox4x32_10({index, 0, 0, kSeedPurpose}, {uint32_t(base), uint32_t(base >> 32)});
  return uint64_t(c[0]) << 32 | c[1];
}

UniqueReplyService::UniqueReplyService(CompletionService& inner, UniqueOptions opts)
    : inner_(inner), opts_(std::move(opts)) {
  opts_.best_of = std::max(opts_.best_of, opts_.upstream ? 0 : 1);
  if (!opts_.upstream) opts_.upstream_candidates = 0;
}

std::unique_ptr<CompletionStream> UniqueReplyService::start(const CompletionRequest& req) {
  const uint64_t base = req.seed ? *req.seed : random_seed();
  const int n_local = opts_.best_of, n_remote = opts_.upstream_candidates;
  const bool measured = opts_.select == SelectMode::kUnique && opts_.embed && n_local + n_remote >= 2;
  const int n_anchor = measured ? opts_.anchors : 0;
  const int total = n_local + n_remote + n_anchor;
  auto style_of = [&](int i) -> const Style* {
    return opts_.styles && req.prompt_ids.empty() && !req.prompt_text ? &opts_.styles->draw(base, uint32_t(i)) : nullptr;
  };
  auto styled = [&](const Style* s, int i) {
    return s ? apply_style(req.messages, *s, opts_.system_role, placement_of(opts_.placement, uint32_t(i)))
             : req.messages;
  };

  if (total == 1 && n_local == 1) {
    // Styles only: the one reply streams straight through.
    const Style* s = style_of(0);
    CompletionRequest one = req;
    one.messages = styled(s, 0);
    auto stream = inner_.start(one);
    if (s && opts_.on_style) {
      opts_.on_style(s->name, false);
      opts_.on_style(s->name, true);
    }
    if (s && opts_.log) opts_.log(fmt::format("unique {}: style={}", req.request_id, s->name));
    return stream;
  }

  const auto now = Clock::now();
  Clock::time_point collect_until = Clock::time_point::max();
  if (req.deadline != Clock::time_point::max()) {
    // The budget for choosing comes off the deadline, but never more than half the time left.
    const auto left = req.deadline > now ? req.deadline - now : Clock::duration::zero();
    const auto measured = std::chrono::nanoseconds(embed_ns_.load() * 3 / 2);
    const auto keep = std::min<Clock::duration>(std::max<Clock::duration>(opts_.select_budget, measured), left / 2);
    collect_until = req.deadline - keep;
  }

  std::vector<Candidate> cands(static_cast<size_t>(total));
  std::vector<UniqueStream::Local> locals;
  std::vector<UniqueStream::Remote> remotes;
  for (int i = 0; i < total; ++i) {
    Candidate& c = cands[size_t(i)];
    const bool anchor = i >= n_local + n_remote;
    const Style* s = anchor ? nullptr : style_of(i);
    c.style = s ? s->name : "";
    c.style_after_prompt = s && placement_of(opts_.placement, uint32_t(i)) == StylePlacement::kAfterPrompt;
    c.anchor = anchor;
    c.source = anchor ? "anchor" : i < n_local ? "local" : "upstream";
    if (s && opts_.on_style) opts_.on_style(s->name, false);
    if (i < n_local || anchor) {
      CompletionRequest creq = req;
      creq.messages = styled(s, i);
      creq.seed = candidate_seed(base, uint32_t(i));
      if (anchor) {
        // A stock miner: the conversation as sent, plain sampling, the first one greedy.
        creq.temperature = i == n_local + n_remote ? 0.0f : 0.7f;
        creq.top_p = 0.95f;
        creq.top_k = 0;
        creq.min_p = 0.0f;
        creq.repetition_penalty = 1.0f;
        creq.presence_penalty = 0.0f;
        creq.frequency_penalty = 0.0f;
        creq.logit_bias.clear();
      }
      creq.logprobs = 0;  // each token's log-probability, for the quality floor
      creq.stream = false;
      creq.deadline = collect_until;
      creq.request_id = fmt::format("{}/{}", req.request_id, i);
      try {
        locals.push_back({inner_.start(creq), size_t(i), false});
      } catch (...) {
        // A full queue or a bad request is the request's answer when no candidate started;
        // otherwise fewer candidates run.
        if (i == 0 && n_remote == 0) throw;
        c.finish = FinishReason::kError;
        c.error = "not started";
      }
    } else {
      auto slot = std::make_shared<UpstreamSlot>();
      UpstreamCall call;
      call.messages = styled(s, i);
      call.max_tokens = req.max_tokens;
      call.temperature = req.temperature;
      call.top_p = req.top_p;
      call.seed = candidate_seed(base, uint32_t(i));
      call.deadline = collect_until;
      // Detached: a slow upstream must not hold the request; the client and slot are shared.
      std::thread([client = opts_.upstream, call = std::move(call), slot] {
        UpstreamReply r = client->complete(call);
        std::lock_guard lk(slot->mu);
        slot->reply = std::move(r);
        slot->done = true;
      }).detach();
      remotes.push_back({std::move(slot), size_t(i), false});
    }
  }
  std::string prompt;
  for (const auto& m : req.messages)
    if (m.role == "user") prompt = m.content;
  return std::make_unique<UniqueStream>(opts_, embed_ns_, std::move(cands), std::move(locals), std::move(remotes),
                                        collect_until, req.deadline, req.request_id, std::move(prompt));
}

}  // namespace ember::net::unique
