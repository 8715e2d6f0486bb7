#pragma once
// The subset of STROBE-128 (v1.0.2) that Merlin transcripts use: meta-AD, AD, PRF and KEY on a
// Keccak-f[1600] sponge with rate 166. Follows docs/sr25519.md §1.5 byte for byte.
#include <array>
#include <cstdint>
#include <span>

#include "net/crypto/bytes.h"

namespace ember::net::crypto {

class Strobe128 {
 public:
  explicit Strobe128(ByteView protocol_label);

  void meta_ad(ByteView data, bool more);
  void ad(ByteView data, bool more);
  void prf(std::span<uint8_t> out, bool more);
  void key(ByteView data, bool more);

 private:
  static constexpr uint8_t kRate = 166;
  void run_f();
  void absorb(ByteView data);
  void overwrite(ByteView data);
  void squeeze(std::span<uint8_t> out);
  void begin_op(uint8_t flags, bool more);

  std::array<uint8_t, 200> st_{};
  uint8_t pos_ = 0;
  uint8_t pos_begin_ = 0;
  uint8_t cur_flags_ = 0;
};

}  // namespace ember::net::crypto
