// `ember embed`: JSON lines of unit-length embeddings from a fetched encoder; clear errors for
// a missing model, a non-encoder folder and no input.
#include <cmath>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/test_support.h"

namespace {

using ember::test::run_ember;
using ::testing::HasSubstr;

TEST(CliEmbed, PrintsOneUnitVectorPerTextInOrder) {
  const auto dir = ember::test::fetched_model("all-minilm-l6-v2");
  if (!std::filesystem::exists(dir / "model.safetensors"))
    GTEST_SKIP() << "all-minilm-l6-v2 is not fetched (tools/fetch-models.sh all-minilm-l6-v2)";
  const auto file = ember::test::per_test_dir("embed").string() + ".txt";
  {
    std::ofstream f(file);
    f << "third text from a file\n\n";
  }
  auto r = ember::test::run_command(ember::test::ember_binary() + " embed --model " +
                                    dir.string() + " --text 'hello world' --text 'Bonjour' --file " +
                                    file + " 2>/dev/null");
  std::filesystem::remove(file);
  ASSERT_EQ(r.code, 0) << r.out;
  simdjson::dom::parser p;
  size_t n = 0;
  for (auto line = r.out.begin(); line != r.out.end();) {
    auto end = std::find(line, r.out.end(), '\n');
    const std::string text(line, end);
    simdjson::dom::object o = p.parse(text);
    EXPECT_EQ(int64_t(o["index"]), int64_t(n));
    double sq = 0;
    size_t dim = 0;
    for (double v : simdjson::dom::array(o["embedding"])) {
      sq += v * v;
      ++dim;
    }
    EXPECT_EQ(dim, 384u);
    EXPECT_NEAR(std::sqrt(sq), 1.0, 1e-5);
    if (n == 0) EXPECT_EQ(int64_t(o["tokens"]), 4);  // [CLS] hello world [SEP]
    ++n;
    line = end == r.out.end() ? end : end + 1;
  }
  EXPECT_EQ(n, 3u);
}

TEST(CliEmbed, ErrorsSayWhatIsWrong) {
  auto r = run_ember("embed --model /nonexistent/encoder --text x");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("/nonexistent/encoder"));
  r = run_ember("embed --model " + ember::test::source_dir() + " --text x");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("config.json"));
  r = run_ember("embed --model " + ember::test::source_dir());
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("nothing to embed"));
}

}  // namespace
