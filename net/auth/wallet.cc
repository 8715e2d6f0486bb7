#include "net/auth/wallet.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/core/json_text.h"
#include "net/crypto/ss58.h"

namespace ember::net::auth {
namespace fs = std::filesystem;
namespace {

std::string env_or(const char* var, const char* fallback) {
  const char* v = std::getenv(var);
  return v && *v ? v : fallback;
}

void write_file_private(const fs::path& file, const std::string& text, bool overwrite, mode_t mode) {
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | (overwrite ? 0 : O_EXCL);
  const int fd = ::open(file.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) fail("{}: already exists (use --overwrite to replace it)", file.string());
    fail("{}: cannot create: {}", file.string(), std::strerror(errno));
  }
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      fail("{}: write failed: {}", file.string(), std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) fail("{}: close failed: {}", file.string(), std::strerror(errno));
}

}  // namespace

fs::path expand_user(const std::string& path) {
  if (path == "~" || path.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    if (!home || !*home) fail("cannot expand '{}': HOME is not set", path);
    return fs::path(home) / path.substr(path.size() > 1 ? 2 : 1);
  }
  return fs::path(path);
}

WalletLocation WalletLocation::defaults() {
  return {env_or("BT_WALLET_PATH", "~/.bittensor/wallets"), env_or("BT_WALLET_NAME", "default"),
          env_or("BT_WALLET_HOTKEY", "default")};
}

fs::path WalletLocation::hotkey_file() const { return expand_user(path) / name / "hotkeys" / hotkey; }
fs::path WalletLocation::hotkey_pub_file() const {
  return expand_user(path) / name / "hotkeys" / (hotkey + "pub.txt");
}

std::string Hotkey::ss58() const { return crypto::ss58_encode(keypair.public_key); }

Hotkey hotkey_from_seed(const crypto::MiniSecret& seed) {
  Hotkey hk;
  hk.keypair = crypto::keypair_from_mini_secret(seed);
  hk.seed = seed;
  return hk;
}

Hotkey parse_hotkey_json(std::string_view json, std::string_view source) {
  std::string_view head = json.substr(0, 16);
  if (head.starts_with("$NACL") || head.starts_with("$ANSIBLE") || head.starts_with("$BTWALLET") ||
      head.starts_with("gAAAAA"))
    fail("{}: the keyfile is encrypted; ember needs an unencrypted hotkey (hotkeys are normally not encrypted)",
         source);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root))
    fail("{}: not a JSON keyfile: {}", source, simdjson::error_message(err));
  auto get = [&](const char* key) -> std::optional<std::string> {
    std::string_view v;
    if (root[key].get_string().get(v) == simdjson::SUCCESS) return std::string(v);
    return std::nullopt;
  };
  Hotkey hk;
  const auto seed = get("secretSeed");
  const auto priv = get("privateKey");
  try {
    if (seed) {
      hk = hotkey_from_seed(crypto::from_hex_fixed<32>(*seed, "secretSeed"));
      if (priv) {
        const crypto::Bytes p = crypto::from_hex(*priv, "privateKey");
        if (p.size() != 64 || !std::equal(p.begin(), p.end(), hk.keypair.secret_bytes().begin()))
          fail("privateKey does not match secretSeed");
      }
    } else if (priv) {
      hk.keypair = crypto::keypair_from_secret_bytes(crypto::from_hex(*priv, "privateKey"));
    } else {
      fail("neither secretSeed nor privateKey is present");
    }
    for (const char* key : {"publicKey", "accountId"}) {
      if (auto v = get(key); v && crypto::from_hex_fixed<32>(*v, key) != hk.keypair.public_key)
        fail("{} does not match the secret key", key);
    }
    if (auto v = get("ss58Address"); v && crypto::ss58_decode_any(*v).public_key != hk.keypair.public_key)
      fail("ss58Address does not match the secret key");
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  hk.phrase = get("secretPhrase");
  return hk;
}

std::string hotkey_public_json(const Hotkey& hk) {
  const std::string pk = "0x" + crypto::to_hex(hk.keypair.public_key);
  return fmt::format(R"({{"accountId": "{}", "publicKey": "{}", "privateKey": null, "secretPhrase": null, )"
                     R"("secretSeed": null, "ss58Address": "{}"}})",
                     pk, pk, hk.ss58());
}

std::string hotkey_to_json(const Hotkey& hk) {
  const std::string pk = "0x" + crypto::to_hex(hk.keypair.public_key);
  const std::string priv = "0x" + crypto::to_hex(hk.keypair.secret_bytes());
  const std::string seed = hk.seed ? json::quote("0x" + crypto::to_hex(*hk.seed)) : "null";
  const std::string phrase = hk.phrase ? json::quote(*hk.phrase) : "null";
  return fmt::format(R"({{"accountId": "{}", "publicKey": "{}", "privateKey": "{}", "secretPhrase": {}, )"
                     R"("secretSeed": {}, "ss58Address": "{}"}})",
                     pk, pk, priv, phrase, seed, hk.ss58());
}

Hotkey load_hotkey(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("{}: cannot open hotkey file (create one with `ember key new`)", file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_hotkey_json(ss.str(), file.string());
}

void save_hotkey(const WalletLocation& where, const Hotkey& hk, bool overwrite) {
  const fs::path file = where.hotkey_file();
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) fail("{}: cannot create directory: {}", file.parent_path().string(), ec.message());
  for (fs::path p = file.parent_path(); p != expand_user(where.path).parent_path() && !p.empty(); p = p.parent_path())
    ::chmod(p.c_str(), 0700);
  write_file_private(file, hotkey_to_json(hk), overwrite, 0600);
  write_file_private(where.hotkey_pub_file(), hotkey_public_json(hk), true, 0644);
}

}  // namespace ember::net::auth
