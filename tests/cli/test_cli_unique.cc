// `ember serve`'s unique-reply flags through the binary: a bad styles file or upstream URL stops
// the server before any model loads, with the file and entry (or the flag) named; out-of-range
// values are usage errors.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ember-unique-cli-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// A port nobody serves: these runs must fail before they would listen.
const std::string kServe = "serve --host 127.0.0.1 --port 0 --wallet.path /nonexistent-wallets ";

TEST(UniqueCli, BadStylesFileNamesTheFileAndEntry) {
  TempDir t;
  const fs::path f = t.path / "styles.toml";
  std::ofstream(f) << "[[styles]]\nname = \"pirate\"\ntext = \"Arr.\"\nweight = -2\n";
  auto r = ember::test::run_ember(kServe + "--styles " + f.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr(f.string() + ": styles[0] (\"pirate\"): `weight` must be a finite number >= 0, got -2"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("loaded")));  // before the model

  r = ember::test::run_ember(kServe + "--styles " + (t.path / "missing.json").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("missing.json: cannot open the file"));
}

TEST(UniqueCli, BadUpstreamAndRangesAreRefused) {
  auto r = ember::test::run_ember(kServe + "--upstream https://api.example.com/v1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--upstream https://api.example.com/v1: expected http://HOST[:PORT][/PATH]"));
  r = ember::test::run_ember(kServe + "--best-of 17");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--best-of"));
  r = ember::test::run_ember(kServe + "--select best");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--select"));
  r = ember::test::run_ember(kServe + "--style-placement before");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--style-placement"));
  r = ember::test::run_ember(kServe + "--best-of 4 --select-anchors 9");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--select-anchors"));
  r = ember::test::run_ember(kServe + "--best-of 4 --select-anchors 1 --select-target-distance -0.1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--select-target-distance"));
}

TEST(UniqueCli, AnchorsWithoutAChoiceToMakeAreRefused) {
  auto r = ember::test::run_ember(kServe + "--best-of 4 --select first --select-anchors 2");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--select-anchors 2: anchors only serve --select unique"));
  r = ember::test::run_ember(kServe + "--styles builtin --select-anchors 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--select-anchors 1: there is no choice to make with one candidate"));
}

}  // namespace
