#pragma once
// The per-sequence state the draw depends on, kept where the draws run (with the backend's
// sample op, not in the scheduler): the prompt and the tokens drawn so far, and the penalties'
// counts kept as they arrive (the distinct ids seen, each output id's count), for the
// repetition, presence and frequency penalties, min_tokens and the Philox step. The op appends
// each draw itself, so the state is right for the next step before the host has read the ids
// back.
//
// Slots are dense indices the scheduler hands out (and reuses); a slot's storage grows to its
// longest sequence and is then reused, so a steady decode allocates nothing here.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/sample/row_sampling.h"

namespace ember {

class SamplerSlots {
 public:
  void init(const SlotInit& s);
  void fork(const SlotFork& f);
  // Applies a step's slot operations in order: inits, then forks.
  void apply(std::span<const SlotInit> inits, std::span<const SlotFork> forks);
  void append(int32_t slot, int32_t id);

  std::span<const int32_t> prompt(int32_t slot) const;
  std::span<const int32_t> output(int32_t slot) const;
  // The last token of the slot's sequence: its latest draw, or the last prompt token.
  int32_t last(int32_t slot) const;
  // Distinct ids of prompt + output, ascending.
  std::span<const int32_t> seen(int32_t slot) const;
  // Each distinct output id with its count, ids ascending.
  std::span<const std::pair<int32_t, int32_t>> output_counts(int32_t slot) const;
  int size() const { return int(slots_.size()); }

 private:
  struct Slot {
    std::vector<int32_t> tokens;  // prompt + output
    int32_t prompt_len = 0;
    bool live = false;
    std::vector<int32_t> seen;                          // sorted, distinct
    std::vector<std::pair<int32_t, int32_t>> counts;    // sorted by id
  };
  static void count_output(Slot& s, int32_t id);  // seen and counts, for a drawn id
  Slot& at(int32_t slot);
  const Slot& at(int32_t slot) const;
  std::vector<Slot> slots_;
};

}  // namespace ember
