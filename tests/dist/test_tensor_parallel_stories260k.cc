// The real stories260K model (8 query / 4 KV heads, fp32) at TP=2 and 4 on CPU ranks: its 256
// greedy ids from BOS are the reference's, and prompt and decode logits are TP=1's within 1e-5
// relative. (TP=8 cannot split its MLP of 172.)
#include <iostream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/serve/engine.h"
#include "tests/dist/tp_test_util.h"
#include "tests/test_support.h"

namespace ember {
namespace {

const char* kModel = "models/stories260K/hf";
const char* kGreedy = "models/stories260K/test-vectors/greedy_from_bos_256.json";

std::vector<int32_t> read_ids(const std::string& path, const char* key) {
  simdjson::ondemand::parser parser;
  auto json = simdjson::padded_string::load(path);
  auto doc = parser.iterate(json.value());
  std::vector<int32_t> ids;
  for (auto v : doc[key].get_array()) ids.push_back(int32_t(int64_t(v.get_int64())));
  return ids;
}

TEST(TensorParallelStories260K, GreedyIdsAreTheReferenceAtTp2And4) {
  EMBER_REQUIRE_ASSET(kModel);
  EMBER_REQUIRE_ASSET(kGreedy);
  const auto expected = read_ids(test::asset(kGreedy), "generated_ids");
  ASSERT_EQ(expected.size(), 256u);
  for (int tp : {2, 4}) {
    Engine engine(test::open_tp(test::asset(kModel), tp, 80));
    ChatRequest q;
    q.prompt_ids = read_ids(test::asset(kGreedy), "prompt_ids");
    q.sampling.temperature = 0;
    q.sampling.max_tokens = 256;
    q.sampling.ignore_eos = true;
    EXPECT_EQ(engine.submit(q).wait().completions.at(0).tokens, expected) << "TP=" << tp;
  }
}

TEST(TensorParallelStories260K, LogitsMatchTp1) {
  EMBER_REQUIRE_ASSET(kModel);
  const std::string dir = test::asset(kModel);
  const std::vector<int32_t> a = {1, 403, 407, 261, 378, 430, 265, 283, 305},
                             b = {1, 365, 271, 293, 262, 330};
  auto one = test::open_tp(dir, 1);
  const int V = one->vocab_size();
  const auto ref = test::two_step_logits(*one, a, b, 259, 300);
  for (int tp : {2, 4}) {
    const auto got = test::two_step_logits(*test::open_tp(dir, tp), a, b, 259, 300);
    const double err = test::max_relative_error(got, ref, size_t(V));
    std::cout << "stories260K TP=" << tp << ": max relative logit error " << err << "\n";
    EXPECT_LE(err, 1e-5) << "TP=" << tp;
    EXPECT_EQ(test::row_argmax(got, size_t(V)), test::row_argmax(ref, size_t(V))) << "TP=" << tp;
  }
  try {
    test::open_tp(dir, 8);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--tensor-parallel-size 8 does not divide the MLP's intermediate size 172");
  }
}

}  // namespace
}  // namespace ember
