// The real stories260K model (8 query / 4 KV heads, fp32) at TP=2 and 4 on CPU ranks: its 256
// greedy ids from BOS are the reference's, and prompt and decode logits are TP=1's within 1e-5
// relative. (TP=8 cannot split its MLP of 172.)
#include <iostream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/serve/engine.h"
#include "tests/dist/tp_test_util.h"
#include "tests/stories260k_vectors.h"
#include "tests/test_support.h"

namespace ember {
namespace {

const char* kModel = test::kStoriesModel;
const char* kGreedy = test::kStoriesGreedy;


TEST(TensorParallelStories260K, GreedyIdsAreTheReferenceAtTp2And4) {
  EMBER_REQUIRE_ASSET(kModel);
  EMBER_REQUIRE_ASSET(kGreedy);
  const auto expected = test::read_json_ids(test::asset(kGreedy), "generated_ids");
  ASSERT_EQ(expected.size(), 256u);
  for (int tp : {2, 4}) {
    Engine engine(test::open_tp(test::asset(kModel), tp, 80));
    ChatRequest q;
    q.prompt_ids = test::read_json_ids(test::asset(kGreedy), "prompt_ids");
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
