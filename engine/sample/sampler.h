#pragma once
// The per-request sampler: logits of one sequence -> the next token id. Every transform is a
// free function so tests can check each one on a known distribution; sample_next() chains them
// in the order documented in sampling_params.h.
//
// Reproducibility: the draw is a pure function of (seed, completion index, step, probabilities).
// The uniform number comes from Philox4x32-10 keyed by the seed with the step as counter, and
// the inverse-CDF walk goes over the surviving candidates in ascending id order, so no sort
// order (or tie) can change the result. A request's tokens therefore do not depend on the batch
// it ran in, on preemption and recompute, or on the device (the GPU sampler follows the same
// rule). Walking in id order also means the common case (temperature only) needs no sort.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "engine/sample/logprobs.h"
#include "engine/sample/sampling_params.h"

namespace ember {

struct Candidate {
  // Left uninitialised by default: softmax_candidates sizes a vocabulary-long list and writes
  // every element, where zero-filling it first cost a third of a temperature-only draw.
  Candidate() {}
  Candidate(int32_t id_, float p_) : id(id_), p(p_) {}
  int32_t id;
  float p;
};
// Probabilities sum to 1 after each filter. The order is either ascending id or, once a filter
// that needs a ranking ran, (p descending, id ascending); filters accept both.
using Candidates = std::vector<Candidate>;

void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias);
// Repetition penalty over prompt + output, presence/frequency penalties over output.
void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt, std::span<const int32_t> output);
// The same from counts kept as tokens arrive (SamplerSlots): `seen`, the distinct ids of prompt
// + output; `output_counts`, each distinct output id with its count. Each id is changed once,
// by the same operation as above, so the logits come out the same.
void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> seen,
                     std::span<const std::pair<int32_t, int32_t>> output_counts);
// Those counts from a whole sequence: `seen` ascending and distinct, `output_counts` by id
// ascending. Both vectors are overwritten (their storage is reused).
void penalty_counts(std::span<const int32_t> prompt, std::span<const int32_t> output,
                    std::vector<int32_t>& seen, std::vector<std::pair<int32_t, int32_t>>& output_counts);

// Entropy (nats) of softmax(logits / temperature).
double entropy_at_temperature(std::span<const float> logits, double temperature);
// The temperature in [0.05, 20] whose softmax has entropy closest to `target` (bisection on
// log T; the entropy rises monotonically with T).
float temperature_for_entropy(std::span<const float> logits, float target);

// softmax(logits / temperature) as candidates in id order; tokens whose probability underflows
// to 0 are left out. With top_k > 0 only the k most likely are kept (ranked, a partial sort).
Candidates softmax_candidates(std::span<const float> logits, float temperature, int top_k = 0);

void renormalize(Candidates& c);
void top_k_filter(Candidates& c, int k);
// Keeps the smallest prefix whose mass is >= top_p.
void top_p_filter(Candidates& c, float top_p);
// Keeps tokens with p >= min_p * p_max.
void min_p_filter(Candidates& c, float min_p);
// Keeps the tokens whose surprisal is closest to the entropy, smallest such set with mass >=
// typical_p.
void typical_filter(Candidates& c, float typical_p);
// Removes every token with p >= threshold except the least likely of them (ties: the highest
// id stays) when at least two qualify. Returns whether anything was removed.
bool xtc_filter(Candidates& c, float threshold);

// Inverse-CDF draw over the candidates in ascending id order; u in [0, 1).
int32_t draw_from(const Candidates& c, double u);

// argmax with ties to the lowest id.
int32_t argmax(std::span<const float> logits);

// One full sampling step for completion `index` of a request, at `step` = number of tokens this
// completion has generated so far. `logits` is consumed as scratch (penalties are applied in
// place). With `processed` set, it receives the log-softmax the truncation filters start from
// (SamplingParams::LogprobsMode::Processed), over `logits` as left by the penalties.
int32_t sample_next(const SamplingParams& p, uint64_t seed, uint32_t index,
                    std::span<float> logits, std::span<const int32_t> prompt,
                    std::span<const int32_t> output,
                    std::optional<RowLogprobs>* processed = nullptr);

// sample_next() after the logit bias and the penalties (already applied to `logits`): the
// temperature, the filters and the draw at `step` (tokens generated so far).
int32_t sample_processed(const SamplingParams& p, uint64_t seed, uint32_t index, uint64_t step,
                         std::span<float> logits, std::optional<RowLogprobs>* processed = nullptr);

// A fresh seed from the kernel's secure random source (getrandom).
uint64_t fresh_seed();

}  // namespace ember
