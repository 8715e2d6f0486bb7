#include "net/crypto/strobe.h"

#include "engine/core/error.h"
#include "net/crypto/keccak.h"

namespace ember::net::crypto {
namespace {
constexpr uint8_t kFlagI = 0x01, kFlagA = 0x02, kFlagC = 0x04, kFlagM = 0x10, kFlagK = 0x20;
}

Strobe128::Strobe128(ByteView protocol_label) {
  const uint8_t head[18] = {0x01, kRate + 2, 0x01, 0x00, 0x01, 0x60, 'S', 'T', 'R', 'O',
                            'B',  'E',       'v',  '1',  '.',  '0',  '.', '2'};
  std::copy(std::begin(head), std::end(head), st_.begin());
  keccak_f1600(st_.data());
  meta_ad(protocol_label, false);
}

void Strobe128::run_f() {
  st_[pos_] ^= pos_begin_;
  st_[pos_ + 1] ^= 0x04;
  st_[kRate + 1] ^= 0x80;
  keccak_f1600(st_.data());
  pos_ = 0;
  pos_begin_ = 0;
}

void Strobe128::absorb(ByteView data) {
  for (uint8_t b : data) {
    st_[pos_++] ^= b;
    if (pos_ == kRate) run_f();
  }
}

void Strobe128::overwrite(ByteView data) {
  for (uint8_t b : data) {
    st_[pos_++] = b;
    if (pos_ == kRate) run_f();
  }
}

void Strobe128::squeeze(std::span<uint8_t> out) {
  for (uint8_t& b : out) {
    b = st_[pos_];
    st_[pos_++] = 0;
    if (pos_ == kRate) run_f();
  }
}

void Strobe128::begin_op(uint8_t flags, bool more) {
  if (more) {
    // A continuation must continue the same operation; anything else is a programming error.
    if (flags != cur_flags_) fail("strobe: continued operation {:#x} after {:#x}", flags, cur_flags_);
    return;
  }
  const uint8_t old_begin = pos_begin_;
  pos_begin_ = static_cast<uint8_t>(pos_ + 1);
  cur_flags_ = flags;
  const uint8_t header[2] = {old_begin, flags};
  absorb(header);
  if ((flags & (kFlagC | kFlagK)) != 0 && pos_ != 0) run_f();
}

void Strobe128::meta_ad(ByteView data, bool more) {
  begin_op(kFlagM | kFlagA, more);
  absorb(data);
}

void Strobe128::ad(ByteView data, bool more) {
  begin_op(kFlagA, more);
  absorb(data);
}

void Strobe128::prf(std::span<uint8_t> out, bool more) {
  begin_op(kFlagI | kFlagA | kFlagC, more);
  squeeze(out);
}

void Strobe128::key(ByteView data, bool more) {
  begin_op(kFlagA | kFlagC, more);
  overwrite(data);
}

}  // namespace ember::net::crypto
