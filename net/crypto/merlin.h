#pragma once
// Merlin v1.0 transcripts over STROBE-128 (docs/sr25519.md §1.6), plus the transcript-bound
// witness generator schnorrkel uses for signing nonces.
#include <cstdint>
#include <span>
#include <string_view>

#include "net/crypto/bytes.h"
#include "net/crypto/strobe.h"

namespace ember::net::crypto {

class Transcript {
 public:
  explicit Transcript(ByteView label);
  explicit Transcript(std::string_view label) : Transcript(as_bytes(label)) {}

  // Lengths are framed as u32: messages of 4 GiB or more are refused with ember::Error.
  void append_message(ByteView label, ByteView message);
  void append_message(std::string_view label, ByteView message) {
    append_message(as_bytes(label), message);
  }
  void challenge_bytes(ByteView label, std::span<uint8_t> out);
  void challenge_bytes(std::string_view label, std::span<uint8_t> out) {
    challenge_bytes(as_bytes(label), out);
  }

  // Merlin's TranscriptRng: a fork of this transcript rekeyed with a secret witness and fresh OS
  // randomness, so a signing nonce depends on the message, the key and the RNG together.
  void witness_bytes(ByteView label, ByteView witness, std::span<uint8_t> out) const;

 private:
  Strobe128 strobe_;
};

}  // namespace ember::net::crypto
