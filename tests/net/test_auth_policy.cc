// Allow/block lists, the metagraph snapshot, reload, and the 403 path of the request checks.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/auth/access_policy.h"
#include "net/auth/body_hash.h"
#include "net/auth/request_auth.h"
#include "net/auth/signing_messages.h"
#include "net/crypto/ss58.h"
#include "tests/test_support.h"

using namespace ember::net;
using namespace ember::net::auth;
namespace fs = std::filesystem;

namespace {

crypto::Keypair key(uint8_t tag) { return crypto::keypair_from_mini_secret(crypto::MiniSecret{tag, 7}); }
std::string addr(uint8_t tag) { return crypto::ss58_encode(key(tag).public_key); }

struct PolicyTest : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = ember::test::per_test_dir("ember_policy");
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
};

}  // namespace

TEST_F(PolicyTest, NoRulesAllowsEveryone) {
  AccessPolicy p;
  EXPECT_FALSE(p.restrictive());
  EXPECT_TRUE(p.check(addr(1)).allowed);
  EXPECT_TRUE(p.check("garbage").allowed);  // verification rejects it later
}

TEST_F(PolicyTest, AllowListWithCommentsAndReload) {
  AccessPolicyConfig cfg;
  cfg.allow_file = write("allow.txt", "# validators we trust\n" + addr(1) + "   # the first\n\n  " + addr(2) + "\r\n");
  AccessPolicy p(cfg);
  EXPECT_TRUE(p.check(addr(1)).allowed);
  EXPECT_TRUE(p.check(addr(2)).allowed);
  const AccessDecision d = p.check(addr(3));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "Unrecognized hotkey");
  EXPECT_FALSE(p.check("garbage").allowed);

  write("allow.txt", addr(3) + "\n");
  p.reload();
  EXPECT_FALSE(p.check(addr(1)).allowed);
  EXPECT_TRUE(p.check(addr(3)).allowed);

  // A bad file keeps the previous lists and names the line.
  write("allow.txt", addr(1) + "\n5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ\n");
  try {
    p.reload();
    FAIL() << "reload accepted a bad address";
  } catch (const ember::Error& e) {
    EXPECT_NE(std::string(e.what()).find("allow.txt:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(p.check(addr(3)).allowed);
  EXPECT_FALSE(p.check(addr(1)).allowed);
}

TEST_F(PolicyTest, EmptyAllowFileRefusesEveryone) {
  AccessPolicyConfig cfg;
  cfg.allow_file = write("allow.txt", "# nobody yet\n");
  AccessPolicy p(cfg);
  EXPECT_FALSE(p.check(addr(1)).allowed);
}

TEST_F(PolicyTest, BlockListWinsOverAllowList) {
  AccessPolicyConfig cfg;
  cfg.allow_file = write("allow.txt", addr(1) + "\n" + addr(2) + "\n");
  cfg.block_file = write("block.txt", addr(2) + "\n");
  AccessPolicy p(cfg);
  EXPECT_TRUE(p.check(addr(1)).allowed);
  EXPECT_EQ(p.check(addr(2)).reason, "Blacklisted hotkey");
}

TEST_F(PolicyTest, MissingFileIsAClearError) {
  AccessPolicyConfig cfg;
  cfg.block_file = (dir / "nope.txt").string();
  EXPECT_THROW(AccessPolicy p(cfg), ember::Error);
}

TEST_F(PolicyTest, MetagraphPermitAndStake) {
  AccessPolicyConfig cfg;
  cfg.metagraph_file = write("metagraph.json", R"({"netuid": 1, "hotkeys": [")" + addr(1) + R"(", ")" + addr(2) +
                                                   R"(", ")" + addr(3) + R"("], "S": [5000.5, 10, 20000],
      "validator_permit": [true, false, 1]})");
  cfg.require_validator_permit = true;
  cfg.min_stake = 1000;
  cfg.allow_file = write("allow.txt", addr(4) + "\n");
  AccessPolicy p(cfg);
  AccessDecision d = p.check(addr(1));
  EXPECT_TRUE(d.allowed);
  EXPECT_DOUBLE_EQ(d.priority, 5000.5);
  EXPECT_EQ(p.check(addr(2)).reason, "Non-validator hotkey");
  EXPECT_TRUE(p.check(addr(3)).allowed);
  EXPECT_DOUBLE_EQ(p.stake(addr(3)), 20000);
  EXPECT_EQ(p.check(addr(5)).reason, "Unrecognized hotkey");
  EXPECT_TRUE(p.check(addr(4)).allowed);  // the allow list admits off-metagraph callers
  EXPECT_DOUBLE_EQ(p.stake(addr(4)), 0);

  cfg.require_validator_permit = false;
  cfg.min_stake = 6000;
  AccessPolicy q(cfg);
  EXPECT_EQ(q.check(addr(1)).reason, "Insufficient stake");
  EXPECT_TRUE(q.check(addr(3)).allowed);
}

TEST_F(PolicyTest, MetagraphNeuronListForm) {
  const auto mg = parse_metagraph_json(R"({"neurons": [{"hotkey": ")" + addr(1) +
                                           R"(", "stake": 3, "validator_permit": true}, {"hotkey": ")" + addr(2) +
                                           R"("}]})",
                                       "mg");
  ASSERT_EQ(mg.size(), 2u);
  EXPECT_DOUBLE_EQ(mg.at(key(1).public_key).stake, 3);
  EXPECT_TRUE(mg.at(key(1).public_key).validator_permit);
  EXPECT_FALSE(mg.at(key(2).public_key).validator_permit);
}

TEST_F(PolicyTest, BadMetagraphsAreClearErrors) {
  EXPECT_THROW(parse_metagraph_json("{", "mg"), ember::Error);
  EXPECT_THROW(parse_metagraph_json(R"({"stakes": []})", "mg"), ember::Error);
  EXPECT_THROW(parse_metagraph_json(R"({"hotkeys": [")" + addr(1) + R"("], "stakes": [1, 2]})", "mg"), ember::Error);
  EXPECT_THROW(parse_metagraph_json(R"({"hotkeys": ["bad"]})", "mg"), ember::Error);
  EXPECT_THROW(parse_metagraph_json(R"({"hotkeys": [")" + addr(1) + R"("], "stakes": ["x"]})", "mg"), ember::Error);
}

TEST_F(PolicyTest, BlacklistedCallerGets403BeforeAnySignatureWork) {
  AccessPolicyConfig cfg;
  cfg.allow_file = write("allow.txt", addr(1) + "\n");
  AccessPolicy p(cfg);
  AuthOptions opts;
  opts.policy = &p;
  const std::string miner = addr(2);
  const std::string body = R"({"messages": ["hi"]})";
  DendriteRequest req;
  req.nonce = 1'700'000'000'000'000'000;
  req.uuid = "u";
  req.axon_hotkey = miner;
  req.body_hash = compute_body_hash(body, kPromptingHashFields);
  NonceStore nonces;
  // A stranger, even with a valid signature.
  AuthResult r = verify_request(sign_request_headers(key(3), req), body, miner, nonces, req.nonce, opts);
  EXPECT_EQ(r.http_status, 403);
  EXPECT_EQ(r.message, "Forbidden. Key is blacklisted: Unrecognized hotkey.");
  // No hotkey header at all.
  HeaderMap h = sign_request_headers(key(1), req);
  h.erase("bt_header_dendrite_hotkey");
  EXPECT_EQ(verify_request(h, body, miner, nonces, req.nonce, opts).http_status, 403);
  // The allowed validator passes, and gets its priority.
  r = verify_request(sign_request_headers(key(1), req), body, miner, nonces, req.nonce, opts);
  EXPECT_TRUE(r.ok) << r.message;
}
