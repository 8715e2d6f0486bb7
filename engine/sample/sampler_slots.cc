#include "engine/sample/sampler_slots.h"

#include <algorithm>

#include "engine/core/error.h"
#include "engine/sample/sampler.h"

namespace ember {

SamplerSlots::Slot& SamplerSlots::at(int32_t slot) {
  if (slot < 0 || slot >= int32_t(slots_.size()) || !slots_[size_t(slot)].live)
    fail("sampler: slot {} was never initialised", slot);
  return slots_[size_t(slot)];
}

const SamplerSlots::Slot& SamplerSlots::at(int32_t slot) const {
  if (slot < 0 || slot >= int32_t(slots_.size()) || !slots_[size_t(slot)].live)
    fail("sampler: slot {} was never initialised", slot);
  return slots_[size_t(slot)];
}

void SamplerSlots::init(const SlotInit& s) {
  if (s.slot < 0) fail("sampler: slot {} is negative", s.slot);
  if (s.prompt_len < 0 || size_t(s.prompt_len) > s.tokens.size())
    fail("sampler: slot {}: prompt of {} tokens in a sequence of {}", s.slot, s.prompt_len,
         s.tokens.size());
  if (size_t(s.slot) >= slots_.size()) slots_.resize(size_t(s.slot) + 1);
  Slot& d = slots_[size_t(s.slot)];
  d.tokens.assign(s.tokens.begin(), s.tokens.end());  // keeps the capacity of a reused slot
  d.prompt_len = s.prompt_len;
  d.live = true;
  const std::span<const int32_t> all(d.tokens);
  penalty_counts(all.first(size_t(d.prompt_len)), all.subspan(size_t(d.prompt_len)), d.seen, d.counts);
}

void SamplerSlots::count_output(Slot& s, int32_t id) {
  const auto at = std::lower_bound(s.seen.begin(), s.seen.end(), id);
  if (at == s.seen.end() || *at != id) s.seen.insert(at, id);
  const auto c = std::lower_bound(s.counts.begin(), s.counts.end(), id,
                                  [](const auto& e, int32_t v) { return e.first < v; });
  if (c != s.counts.end() && c->first == id)
    ++c->second;
  else
    s.counts.insert(c, {id, 1});
}

void SamplerSlots::fork(const SlotFork& f) {
  at(f.src);  // checks it
  if (f.dst < 0) fail("sampler: slot {} is negative", f.dst);
  if (size_t(f.dst) >= slots_.size()) slots_.resize(size_t(f.dst) + 1);
  const Slot& s = slots_[size_t(f.src)];
  Slot& d = slots_[size_t(f.dst)];
  d.tokens.assign(s.tokens.begin(), s.tokens.end());
  d.prompt_len = s.prompt_len;
  d.live = true;
  d.seen.assign(s.seen.begin(), s.seen.end());
  d.counts.assign(s.counts.begin(), s.counts.end());
}

void SamplerSlots::apply(std::span<const SlotInit> inits, std::span<const SlotFork> forks) {
  for (const auto& i : inits) init(i);
  for (const auto& f : forks) fork(f);
}

void SamplerSlots::append(int32_t slot, int32_t id) {
  Slot& s = at(slot);
  s.tokens.push_back(id);
  count_output(s, id);
}

std::span<const int32_t> SamplerSlots::seen(int32_t slot) const { return at(slot).seen; }

std::span<const std::pair<int32_t, int32_t>> SamplerSlots::output_counts(int32_t slot) const {
  return at(slot).counts;
}

std::span<const int32_t> SamplerSlots::prompt(int32_t slot) const {
  const Slot& s = at(slot);
  return std::span<const int32_t>(s.tokens).first(size_t(s.prompt_len));
}

std::span<const int32_t> SamplerSlots::output(int32_t slot) const {
  const Slot& s = at(slot);
  return std::span<const int32_t>(s.tokens).subspan(size_t(s.prompt_len));
}

int32_t SamplerSlots::last(int32_t slot) const {
  const Slot& s = at(slot);
  if (s.tokens.empty()) fail("sampler: slot {} holds no token", slot);
  return s.tokens.back();
}

}  // namespace ember
