#pragma once
// The per-sequence state the draw depends on, kept where the draws run (with the backend's
// sample op, not in the scheduler): the prompt and the tokens drawn so far, for the repetition,
// presence and frequency penalties, min_tokens and the Philox step. The op appends each draw
// itself, so the state is right for the next step before the host has read the ids back.
//
// Slots are dense indices the scheduler hands out (and reuses); a slot's storage grows to its
// longest sequence and is then reused, so a steady decode allocates nothing here.
#include <cstdint>
#include <span>
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
  int size() const { return int(slots_.size()); }

 private:
  struct Slot {
    std::vector<int32_t> tokens;  // prompt + output
    int32_t prompt_len = 0;
    bool live = false;
  };
  Slot& at(int32_t slot);
  const Slot& at(int32_t slot) const;
  std::vector<Slot> slots_;
};

}  // namespace ember
