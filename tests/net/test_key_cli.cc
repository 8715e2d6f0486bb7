// `ember key new|show|sign|verify` end to end through the binary.

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace fs = std::filesystem;

namespace {

using CmdResult = ember::test::CommandResult;
using ember::test::run_ember;

const char* kDevSeed = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
const char* kDevSs58 = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

struct KeyCli : ::testing::Test {
  fs::path dir;
  std::string wallet;
  void SetUp() override {
    if (!fs::exists(ember::test::ember_binary())) GTEST_SKIP() << "ember binary not built";
    dir = ember::test::per_test_dir("ember_keycli");
    fs::remove_all(dir);
    wallet = "--wallet.path " + dir.string() + " --wallet.name miner --wallet.hotkey hk";
  }
  void TearDown() override { fs::remove_all(dir); }
};

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') + 1);
}

}  // namespace

TEST_F(KeyCli, NewShowSignVerify) {
  CmdResult r = run_ember("key new " + wallet + " --seed " + kDevSeed);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(kDevSs58), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "miner" / "hotkeys" / "hk"));

  r = run_ember("key new " + wallet);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--overwrite"), std::string::npos) << r.out;

  r = run_ember("key show " + wallet);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(kDevSs58), std::string::npos);
  EXPECT_NE(r.out.find("0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"), std::string::npos);

  r = run_ember("key sign " + wallet + " --message 'hello miner'");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string sig = last_line(r.out);
  ASSERT_EQ(sig.size(), 130u) << r.out;

  EXPECT_EQ(run_ember(std::string("key verify --ss58 ") + kDevSs58 + " --message 'hello miner' --signature " + sig).code, 0);
  EXPECT_EQ(run_ember("key verify --public 0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a --hex "
                  "68656c6c6f206d696e6572 --signature " + sig)
                .code,
            0);
  r = run_ember(std::string("key verify --ss58 ") + kDevSs58 + " --message 'hello minor' --signature " + sig);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not valid"), std::string::npos) << r.out;
  EXPECT_EQ(run_ember("key verify --ss58 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty --message 'hello miner' "
                  "--signature " + sig)
                .code,
            1);

  r = run_ember("key new " + wallet + " --overwrite");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find(kDevSs58), std::string::npos);  // a fresh random key
}

TEST_F(KeyCli, KnownVectorVerifiesAndBadInputIsAnError) {
  const std::string v1 =
      "--ss58 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY --message 'I hereby verify that I control "
      "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY' --signature ";
  const std::string sig =
      "1037eb7e51613d0dcf5930ae518819c87d655056605764840d9280984e1b7063c4566b55bf292fcab07b369d01095879b50517be"
      "ca4d26e6a65866e25fec0d83";
  EXPECT_EQ(run_ember("key verify " + v1 + sig).code, 0);
  EXPECT_EQ(run_ember("key verify " + v1 + "0x1234").code, 1);
  EXPECT_EQ(run_ember("key verify --ss58 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ --message x --signature " + sig)
                .code,
            1);
  EXPECT_EQ(run_ember("key show --wallet.path " + dir.string() + " --wallet.name none").code, 1);
  EXPECT_EQ(run_ember("key sign " + wallet + " --message a --hex 00").code, 2);  // usage error
}
