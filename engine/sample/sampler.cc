#include "engine/sample/sampler.h"

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>

#include "engine/core/error.h"
#include "engine/sample/vector_exp.h"
#include "engine/sample/philox.h"

namespace ember {

namespace {

bool by_prob_desc(const Candidate& a, const Candidate& b) {
  return a.p != b.p ? a.p > b.p : a.id < b.id;
}

// The sums of consecutive blocks of kSumBlock values (the last may be shorter), each in index
// order, so that a block's sum depends on its values only. One running sum over the vocabulary is
// a chain of dependent adds (~4 cycles per element); four blocks at a time are four chains.
constexpr size_t kSumBlock = 64;
template <class Value>  // Value(i): element i as float
void block_sums(size_t n, const Value& value, std::vector<double>& sums) {
  const size_t full = n / kSumBlock;
  sums.assign((n + kSumBlock - 1) / kSumBlock, 0.0);
  size_t b = 0;
  for (; b + 4 <= full; b += 4) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const size_t i0 = b * kSumBlock;
    for (size_t j = 0; j < kSumBlock; ++j) {
      s0 += value(i0 + j);
      s1 += value(i0 + kSumBlock + j);
      s2 += value(i0 + 2 * kSumBlock + j);
      s3 += value(i0 + 3 * kSumBlock + j);
    }
    sums[b] = s0, sums[b + 1] = s1, sums[b + 2] = s2, sums[b + 3] = s3;
  }
  for (; b < sums.size(); ++b) {
    double s = 0;
    for (size_t i = b * kSumBlock; i < std::min(n, (b + 1) * kSumBlock); ++i) s += value(i);
    sums[b] = s;
  }
}

double total_of(const std::vector<double>& sums) {
  double t = 0;
  for (double s : sums) t += s;
  return t;
}

}  // namespace

void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias) {
  for (const auto& [id, b] : bias)
    if (id >= 0 && size_t(id) < logits.size()) logits[id] += b;
}

void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> seen,
                     std::span<const std::pair<int32_t, int32_t>> output_counts) {
  const auto in_range = [&](int32_t id) { return id >= 0 && size_t(id) < logits.size(); };
  if (p.repetition_penalty != 1.f)
    for (int32_t id : seen) {
      if (!in_range(id)) continue;
      float& l = logits[size_t(id)];
      l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
    }
  if (p.presence_penalty != 0.f || p.frequency_penalty != 0.f)
    for (const auto& [id, n] : output_counts)
      if (in_range(id)) logits[size_t(id)] -= p.presence_penalty + p.frequency_penalty * float(n);
}

void penalty_counts(std::span<const int32_t> prompt, std::span<const int32_t> output,
                    std::vector<int32_t>& seen, std::vector<std::pair<int32_t, int32_t>>& output_counts) {
  seen.assign(prompt.begin(), prompt.end());
  seen.insert(seen.end(), output.begin(), output.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::vector<int32_t> out(output.begin(), output.end());
  std::sort(out.begin(), out.end());
  output_counts.clear();
  for (int32_t id : out) {
    if (!output_counts.empty() && output_counts.back().first == id)
      ++output_counts.back().second;
    else
      output_counts.emplace_back(id, 1);
  }
}

void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt, std::span<const int32_t> output) {
  if (p.repetition_penalty == 1.f && p.presence_penalty == 0.f && p.frequency_penalty == 0.f)
    return;
  std::vector<int32_t> seen;
  std::vector<std::pair<int32_t, int32_t>> counts;
  penalty_counts(prompt, output, seen, counts);
  apply_penalties(logits, p, seen, counts);
}

double entropy_at_temperature(std::span<const float> logits, double temperature) {
  const double m = row_max(logits);
  double z = 0, s = 0;  // z = sum e^x, s = sum x e^x, with x = (l - m) / T
  for (float l : logits) {
    if (!std::isfinite(l)) continue;
    const double x = (double(l) - m) / temperature;
    const double e = std::exp(x);
    z += e;
    s += x * e;
  }
  return std::log(z) - s / z;  // H = -sum p log p = log z - E[x]
}

float temperature_for_entropy(std::span<const float> logits, float target) {
  double lo = std::log(0.05), hi = std::log(20.0);
  if (entropy_at_temperature(logits, std::exp(hi)) <= target) return 20.f;
  if (entropy_at_temperature(logits, std::exp(lo)) >= target) return 0.05f;
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (entropy_at_temperature(logits, std::exp(mid)) < target)
      lo = mid;
    else
      hi = mid;
  }
  return float(std::exp(0.5 * (lo + hi)));
}

namespace {
// Keeps the k highest-ranked candidates (p desc, id asc). Large k: O(n), selecting on a copy
// and filtering by the boundary element, which leaves the survivors in their order.
void keep_top(Candidates& c, size_t k) {
  if (k >= c.size()) return;
  if (k <= 256) {  // small k: a partial sort is cheaper, and leaves the survivors ranked
    std::partial_sort(c.begin(), c.begin() + k, c.end(), by_prob_desc);
    c.resize(k);
    return;
  }
  Candidates sel = c;
  std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end(), by_prob_desc);
  const Candidate boundary = sel[k - 1];
  std::erase_if(c, [&](const Candidate& x) { return by_prob_desc(boundary, x); });
}

void rank(Candidates& c) {
  if (!std::is_sorted(c.begin(), c.end(), by_prob_desc)) std::sort(c.begin(), c.end(), by_prob_desc);
}
}  // namespace

Candidates softmax_candidates(std::span<const float> logits, float temperature, int top_k) {
  const float m = row_max(logits);
  const float inv_t = 1.f / temperature;
  // The vector exp (glibc's expf one value at a time was half the sampler's time at a 32k
  // vocabulary), the sum, then the candidates with their probabilities in one pass.
  thread_local std::vector<float> e;
  thread_local std::vector<double> sums;
  e.resize(logits.size());
  cpu::exp_shifted_f32(logits.data(), m, inv_t, e.data(), int64_t(e.size()));
  block_sums(e.size(), [&](size_t i) { return e[i]; }, sums);
  const float inv_z = float(1.0 / total_of(sums));  // the zeros add nothing
  Candidates c(e.size());
  size_t zeros = 0;
  for (float v : e) zeros += v == 0.f;
  if (zeros == 0) {
    // The usual case (an exp underflows only some 90 x temperature below the maximum logit):
    // no compaction, so no store waits for the count of the one before.
    for (size_t i = 0; i < e.size(); ++i) c[i] = {int32_t(i), e[i] * inv_z};
  } else {
    // Every slot is written and the count advances past the nonzero ones only: no branch to
    // mispredict, and no capacity check per element as with push_back.
    size_t n = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      c[n] = {int32_t(i), e[i] * inv_z};
      n += e[i] > 0.f;
    }
    c.resize(n);
  }
  if (top_k > 0 && size_t(top_k) < c.size()) {
    keep_top(c, size_t(top_k));
    renormalize(c);
  }
  return c;
}

void renormalize(Candidates& c) {
  double z = 0;
  for (const auto& x : c) z += x.p;
  if (z > 0)
    for (auto& x : c) x.p = float(x.p / z);
}


void top_k_filter(Candidates& c, int k) {
  if (k > 0 && size_t(k) < c.size()) {
    keep_top(c, size_t(k));
    renormalize(c);
  }
}

void top_p_filter(Candidates& c, float top_p) {
  if (top_p >= 1.f || c.empty()) return;
  // The cut is found by bucketing on the top bits of p (for p >= 0 the bit patterns order like
  // the values): the mass of each bucket, then from the most likely bucket down to the one where
  // the running mass reaches top_p, and only that bucket is ranked. Two passes over the
  // vocabulary, where ranking it (or selecting repeatedly) cost ~50 ns per token.
  constexpr int kShift = 19;  // 8 exponent bits and 4 mantissa bits: 1/16 of an octave
  constexpr size_t kBuckets = size_t(1) << (31 - kShift);
  // The sign bit is dropped so that a -0 (never produced here, but accepted) cannot index past
  // the table.
  const auto bucket = [](float p) { return (std::bit_cast<uint32_t>(p) & 0x7fffffffu) >> kShift; };
  thread_local std::vector<double> mass;
  mass.assign(kBuckets, 0.0);
  for (const auto& x : c) mass[bucket(x.p)] += x.p;
  double above = 0;  // the mass of the buckets above the cut's
  size_t b = kBuckets;
  while (b > 0 && above + mass[b - 1] < top_p) above += mass[--b];
  if (b == 0) return;  // rounding: the whole set is needed
  const uint32_t cut_bucket = uint32_t(b - 1);
  Candidates in_cut;
  for (const auto& x : c)
    if (bucket(x.p) == cut_bucket) in_cut.push_back(x);
  std::sort(in_cut.begin(), in_cut.end(), by_prob_desc);
  Candidate boundary = in_cut.back();
  for (const auto& x : in_cut) {
    above += x.p;
    if (above >= top_p) {
      boundary = x;
      break;
    }
  }
  // Keeps everything ranked at or before the boundary, in the order it came in.
  std::erase_if(c, [&](const Candidate& x) { return by_prob_desc(boundary, x); });
  renormalize(c);
}

void min_p_filter(Candidates& c, float min_p) {
  if (min_p <= 0.f || c.empty()) return;
  float p_max = 0;
  for (const auto& x : c) p_max = std::max(p_max, x.p);
  const float cut = min_p * p_max;
  std::erase_if(c, [&](const Candidate& x) { return x.p < cut; });
  renormalize(c);
}

void typical_filter(Candidates& c, float typical_p) {
  if (typical_p >= 1.f || c.size() < 2) return;
  rank(c);
  double h = 0;
  for (const auto& x : c) h -= double(x.p) * std::log(double(x.p));
  std::vector<std::pair<double, size_t>> order(c.size());
  for (size_t i = 0; i < c.size(); ++i)
    order[i] = {std::abs(-std::log(double(c[i].p)) - h), i};
  std::sort(order.begin(), order.end());  // the index breaks ties, in the ranked order
  Candidates kept;
  double cum = 0;
  for (const auto& [score, i] : order) {
    kept.push_back(c[i]);
    cum += c[i].p;
    if (cum >= typical_p) break;
  }
  std::sort(kept.begin(), kept.end(), by_prob_desc);
  c = std::move(kept);
  renormalize(c);
}

bool xtc_filter(Candidates& c, float threshold) {
  int above = 0;
  const Candidate* least = nullptr;  // least likely of those above; ties: highest id
  for (const auto& x : c)
    if (x.p >= threshold) {
      ++above;
      if (!least || x.p < least->p || (x.p == least->p && x.id > least->id)) least = &x;
    }
  if (above < 2) return false;
  const int32_t keep = least->id;
  std::erase_if(c, [&](const Candidate& x) { return x.p >= threshold && x.id != keep; });
  renormalize(c);
  return true;
}

int32_t draw_from(const Candidates& c, double u) {
  if (c.empty()) fail("sampler: no candidate token left to draw from");
  const Candidates* walk = &c;
  Candidates by_id;
  // Whether the ids ascend, without an exit per element: most lists come straight from
  // softmax_candidates in id order, and std::is_sorted's two branches per element cost more than
  // the walk below.
  bool descends = false;
  for (size_t i = 1; i < c.size(); ++i) descends |= c[i].id < c[i - 1].id;
  if (descends) {
    by_id = c;
    std::sort(by_id.begin(), by_id.end(), [](auto& a, auto& b) { return a.id < b.id; });
    walk = &by_id;
  }
  // The first candidate whose running sum passes u * total. The running sum is the blocks' sums
  // before its block plus its block's values up to it: block sums first (independent chains),
  // then one block walked. Should rounding keep that walk short of the target, where the block's
  // own sum passed it, the walk goes on into the next block.
  const Candidates& w = *walk;
  thread_local std::vector<double> sums;
  block_sums(w.size(), [&](size_t i) { return w[i].p; }, sums);
  const double target = u * total_of(sums);
  double before = 0;
  for (size_t b = 0; b < sums.size(); ++b) {
    if (before + sums[b] > target) {
      double run = before;
      for (size_t i = b * kSumBlock; i < std::min(w.size(), (b + 1) * kSumBlock); ++i)
        if ((run += w[i].p) > target) return w[i].id;
    }
    before += sums[b];
  }
  return w.back().id;
}

int32_t argmax(std::span<const float> logits) {
  // The best value in a register: comparing against logits[best] made every element wait for
  // the load behind the previous compare.
  int32_t best = 0;
  float best_v = logits.empty() ? 0.f : logits[0];
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > best_v) {
      best_v = logits[i];
      best = int32_t(i);
    }
  return best;
}

int32_t sample_next(const SamplingParams& p, uint64_t seed, uint32_t index,
                    std::span<float> logits, std::span<const int32_t> prompt,
                    std::span<const int32_t> output, std::optional<RowLogprobs>* processed) {
  apply_logit_bias(logits, p.logit_bias);
  apply_penalties(logits, p, prompt, output);
  return sample_processed(p, seed, index, output.size(), logits, processed);
}

int32_t sample_processed(const SamplingParams& p, uint64_t seed, uint32_t index, uint64_t step,
                         std::span<float> logits, std::optional<RowLogprobs>* processed) {
  float temperature = p.temperature;
  if (p.target_entropy > 0)
    temperature = temperature_for_entropy(logits, p.target_entropy);
  else if (p.temperature == 0.f) {
    if (processed) processed->emplace(logits, 1.f);
    return argmax(logits);
  }
  if (processed) processed->emplace(logits, temperature);
  Candidates c = softmax_candidates(logits, temperature, p.top_k);
  top_p_filter(c, p.top_p);
  min_p_filter(c, p.min_p);
  typical_filter(c, p.typical_p);
  if (p.xtc_probability > 0 &&
      philox_uniform(seed, step, index, DrawPurpose::Xtc) < p.xtc_probability)
    xtc_filter(c, p.xtc_threshold);
  return draw_from(c, philox_uniform(seed, step, index, DrawPurpose::Token));
}

uint64_t fresh_seed() {
  uint64_t seed = 0;
  size_t got = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(&seed);
  while (got < sizeof seed) {
    const ssize_t r = getrandom(bytes + got, sizeof seed - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("sampler: getrandom failed (errno {})", errno);
    }
    got += size_t(r);
  }
  return seed;
}

}  // namespace ember
