// `ember key new|show|sign|verify`: the miner's hotkey in the bittensor wallet layout
// (WALLET_PATH/NAME/hotkeys/HOTKEY) and sr25519 signatures with the "substrate" context.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "net/auth/wallet.h"
#include "net/crypto/bytes.h"
#include "net/crypto/sr25519.h"
#include "net/crypto/ss58.h"
#include "tools/ember/commands.h"

namespace ember::cli {
namespace {

using net::auth::WalletLocation;
namespace crypto = net::crypto;

void add_wallet_options(CLI::App* cmd, WalletLocation& w) {
  cmd->add_option("--wallet.path", w.path, "Wallet folder (env BT_WALLET_PATH)")->capture_default_str();
  cmd->add_option("--wallet.name", w.name, "Wallet name (env BT_WALLET_NAME)")->capture_default_str();
  cmd->add_option("--wallet.hotkey", w.hotkey, "Hotkey name (env BT_WALLET_HOTKEY)")->capture_default_str();
}

// The message bytes: --message as UTF-8 as given, or --hex decoded.
struct MessageArgs {
  std::optional<std::string> text;
  std::optional<std::string> hex;
  crypto::Bytes bytes() const {
    if (hex) return crypto::from_hex(*hex, "--hex");
    const auto b = crypto::as_bytes(*text);
    return {b.begin(), b.end()};
  }
};

void add_message_options(CLI::App* cmd, MessageArgs& m) {
  auto* text = cmd->add_option("--message", m.text, "Message text (signed as its UTF-8 bytes)");
  auto* hex = cmd->add_option("--hex", m.hex, "Message as hex bytes (optional 0x)");
  text->excludes(hex);
}

void require_message(const MessageArgs& m) {
  if (!m.text && !m.hex) fail("give the message with --message TEXT or --hex HEX");
}

void run_new(const WalletLocation& w, bool overwrite, const std::optional<std::string>& seed_hex) {
  const crypto::MiniSecret seed =
      seed_hex ? crypto::from_hex_fixed<32>(*seed_hex, "--seed") : crypto::random_mini_secret();
  const net::auth::Hotkey hk = net::auth::hotkey_from_seed(seed);
  net::auth::save_hotkey(w, hk, overwrite);
  std::printf("created hotkey %s\nss58:   %s\npublic: 0x%s\n", w.hotkey_file().c_str(), hk.ss58().c_str(),
              crypto::to_hex(hk.keypair.public_key).c_str());
  std::printf("keep a copy of the secretSeed in that file: it is the only way to recover this hotkey\n");
}

void run_show(const WalletLocation& w) {
  const net::auth::Hotkey hk = net::auth::load_hotkey(w.hotkey_file());
  std::printf("file:   %s\nss58:   %s\npublic: 0x%s\n", w.hotkey_file().c_str(), hk.ss58().c_str(),
              crypto::to_hex(hk.keypair.public_key).c_str());
}

void run_sign(const WalletLocation& w, const MessageArgs& m) {
  require_message(m);
  const net::auth::Hotkey hk = net::auth::load_hotkey(w.hotkey_file());
  const crypto::Signature sig = crypto::sign(hk.keypair, m.bytes());
  std::printf("0x%s\n", crypto::to_hex(sig).c_str());
}

void run_verify(const std::optional<std::string>& ss58, const std::optional<std::string>& pub, const MessageArgs& m,
                const std::string& signature) {
  require_message(m);
  if (!ss58 && !pub) fail("give the signer with --ss58 ADDRESS or --public HEX");
  const crypto::PublicKey pk =
      ss58 ? crypto::ss58_decode_any(*ss58).public_key : crypto::from_hex_fixed<32>(*pub, "--public");
  const crypto::Bytes sig = crypto::from_hex(signature, "--signature");
  if (sig.size() != 64) fail("--signature: expected 64 bytes (128 hex digits), got {}", sig.size());
  // bittensor's Keypair.verify semantics: raw bytes, then the <Bytes>…</Bytes> wrapping.
  const crypto::VerifyStatus st = crypto::verify_substrate(pk, m.bytes(), sig);
  if (st != crypto::VerifyStatus::Ok) fail("signature is not valid: {}", crypto::to_string(st));
  std::printf("valid\n");
}

}  // namespace

void add_key_command(CLI::App& app) {
  auto* key = app.add_subcommand("key", "Create, show and use the miner's sr25519 hotkey");
  key->require_subcommand(1);

  {
    auto w = std::make_shared<WalletLocation>(WalletLocation::defaults());
    auto overwrite = std::make_shared<bool>(false);
    auto seed = std::make_shared<std::optional<std::string>>();
    auto* cmd = key->add_subcommand("new", "Create a hotkey in the wallet folder");
    add_wallet_options(cmd, *w);
    cmd->add_flag("--overwrite", *overwrite, "Replace an existing hotkey file");
    cmd->add_option("--seed", *seed, "Use this 32-byte mini secret (hex) instead of a random one");
    cmd->callback([=] { run_new(*w, *overwrite, *seed); });
  }
  {
    auto w = std::make_shared<WalletLocation>(WalletLocation::defaults());
    auto* cmd = key->add_subcommand("show", "Print the hotkey's SS58 address and public key");
    add_wallet_options(cmd, *w);
    cmd->callback([=] { run_show(*w); });
  }
  {
    auto w = std::make_shared<WalletLocation>(WalletLocation::defaults());
    auto m = std::make_shared<MessageArgs>();
    auto* cmd = key->add_subcommand("sign", "Sign a message with the hotkey; prints the 0x-hex signature");
    add_wallet_options(cmd, *w);
    add_message_options(cmd, *m);
    cmd->callback([=] { run_sign(*w, *m); });
  }
  {
    auto m = std::make_shared<MessageArgs>();
    auto ss58 = std::make_shared<std::optional<std::string>>();
    auto pub = std::make_shared<std::optional<std::string>>();
    auto sig = std::make_shared<std::string>();
    auto* cmd = key->add_subcommand("verify", "Check a signature; exit 0 if valid, 1 otherwise");
    auto* o_ss58 = cmd->add_option("--ss58", *ss58, "Signer's SS58 address");
    auto* o_pub = cmd->add_option("--public", *pub, "Signer's public key (hex)");
    o_ss58->excludes(o_pub);
    add_message_options(cmd, *m);
    cmd->add_option("--signature", *sig, "The signature (0x + 128 hex digits)")->required();
    cmd->callback([=] { run_verify(*ss58, *pub, *m, *sig); });
  }
}

}  // namespace ember::cli
