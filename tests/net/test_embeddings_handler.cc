// POST /v1/embeddings over a fake EmbeddingService: OpenAI's request and reply shapes (string or
// list input, float or base64 encoding, usage), its 4xx refusals, and /v1's access rule.
#include <cmath>
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/openai/embeddings_handler.h"
#include "tests/net/openai_fixture.h"

namespace ember::net::test {
namespace {

using ::testing::HasSubstr;

// Embeds text i as [len, i, -0.5]: checkable without a model.
class FakeEmbeddings : public EmbeddingService {
 public:
  std::string model_name() const override { return "fake-encoder"; }
  int dim() const override { return 3; }
  EmbeddingResult embed(const std::vector<std::string>& texts) override {
    if (fail_next) throw std::runtime_error("encoder broke");
    EmbeddingResult r;
    for (size_t i = 0; i < texts.size(); ++i) {
      r.vectors.push_back({float(texts[i].size()), float(i), -0.5f});
      r.prompt_tokens += 2 + int(texts[i].size());
    }
    return r;
  }
  bool fail_next = false;
};

class EmbeddingsApi : public OpenAIServerTest {
 protected:
  void SetUp() override {
    opts.embeddings = &embeddings;
    start();
  }
  FakeEmbeddings embeddings;
};

TEST_F(EmbeddingsApi, ListInputGivesOneEmbeddingPerTextWithUsage) {
  auto r = post_json("/v1/embeddings", R"({"input":["abc","hello"],"model":"fake-encoder"})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  simdjson::dom::object o = p.parse(r.body);
  EXPECT_EQ(std::string_view(o["object"]), "list");
  EXPECT_EQ(std::string_view(o["model"]), "fake-encoder");
  EXPECT_EQ(int64_t(o["usage"]["prompt_tokens"]), 5 + 7);
  EXPECT_EQ(int64_t(o["usage"]["total_tokens"]), 5 + 7);
  simdjson::dom::array data = o["data"];
  ASSERT_EQ(data.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    simdjson::dom::object d = data.at(i);
    EXPECT_EQ(std::string_view(d["object"]), "embedding");
    EXPECT_EQ(int64_t(d["index"]), int64_t(i));
    simdjson::dom::array e = d["embedding"];
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(double(e.at(0)), i == 0 ? 3.0 : 5.0);
    EXPECT_EQ(double(e.at(1)), double(i));
    EXPECT_EQ(double(e.at(2)), -0.5);
  }
}

TEST_F(EmbeddingsApi, Base64IsLittleEndianFloat32) {
  auto r = post_json("/v1/embeddings", R"({"input":"abcd","encoding_format":"base64"})");
  ASSERT_EQ(r.status, 200) << r.body;
  // [4.0, 0.0, -0.5] as float32 LE: 00 00 80 40 | 00 00 00 00 | 00 00 00 bf
  EXPECT_THAT(r.body, HasSubstr("\"embedding\":\"AACAQAAAAAAAAAC/\""));
  EXPECT_THAT(r.body, HasSubstr("\"model\":\"fake-encoder\""));
}

TEST_F(EmbeddingsApi, RefusalsNameTheField) {
  struct Case {
    const char* body;
    int status;
    const char* says;
  };
  const Case cases[] = {
      {R"({"model":"fake-encoder"})", 400, "'input' is required"},
      {R"({"input":[]})", 400, "empty list"},
      {R"({"input":[1,2,3]})", 400, "token ids"},
      {R"({"input":[[1,2]]})", 400, "token ids"},
      {R"({"input":{"a":1}})", 400, "string or a list of strings"},
      {R"({"input":"x","encoding_format":"int8"})", 400, "encoding_format"},
      {R"({"input":"x","dimensions":2})", 400, "3-dimensional"},
      {R"({"input":"x","model":"other"})", 404, "does not exist"},
      {R"(not json)", 400, "invalid JSON"},
  };
  for (const auto& c : cases) {
    auto r = post_json("/v1/embeddings", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.says)) << c.body;
  }
  std::string many = R"({"input":[)";
  for (size_t i = 0; i <= openai::kMaxEmbeddingInputs; ++i) many += i ? ",\"a\"" : "\"a\"";
  many += "]}";
  auto r = post_json("/v1/embeddings", many);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("more than 2048"));
}

TEST_F(EmbeddingsApi, AnEncoderFailureIsA500WithTheReason) {
  embeddings.fail_next = true;
  auto r = post_json("/v1/embeddings", R"({"input":"x"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("encoder broke"));
}

TEST(EmbeddingsAccess, TheApiKeyGuardsEmbeddingsToo) {
  FakeService service;
  FakeEmbeddings embeddings;
  MinerServerOptions opts;
  opts.http.host = "127.0.0.1";
  opts.http.port = 0;
  opts.openai.api_key = "secret";
  opts.embeddings = &embeddings;
  MinerServer server(opts, service);
  server.start();
  Client c(server.port());
  c.send(post("/v1/embeddings", R"({"input":"x"})"));
  EXPECT_EQ(c.read_response().status, 401);
  Client c2(server.port());
  c2.send(post("/v1/embeddings", R"({"input":"x"})", "Authorization: Bearer secret\r\n"));
  EXPECT_EQ(c2.read_response().status, 200);
  server.stop(std::chrono::milliseconds(0));
}

TEST(EmbeddingsRoute, AbsentWithoutAnEncoder) {
  FakeService service;
  MinerServerOptions opts;
  opts.http.host = "127.0.0.1";
  opts.http.port = 0;
  MinerServer server(opts, service);
  server.start();
  Client c(server.port());
  c.send(post("/v1/embeddings", R"({"input":"x"})"));
  EXPECT_EQ(c.read_response().status, 404);
  server.stop(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace ember::net::test
