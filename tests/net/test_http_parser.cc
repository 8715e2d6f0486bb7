// RequestParser: http-parser with our limits, fed the way sockets deliver bytes.
#include <gtest/gtest.h>

#include "net/http/request_parser.h"
#include "net/http/response.h"

namespace ember::net::http {
namespace {

using State = RequestParser::State;

TEST(HttpParser, ParsesRequestFedOneByteAtATime) {
  std::string raw =
      "POST /Prompting?x=1 HTTP/1.1\r\nHost: a\r\nBT_Header_Dendrite_Nonce:  42 \r\n"
      "Content-Length: 5\r\n\r\nhello";
  RequestParser p;
  State st = State::kNeedMore;
  for (size_t i = 0; i < raw.size(); ++i) {
    size_t used = 0;
    st = p.feed(std::string_view(raw).substr(i, 1), used);
    ASSERT_EQ(used, 1u) << i;
    if (i + 1 < raw.size()) ASSERT_EQ(st, State::kNeedMore) << i;
  }
  ASSERT_EQ(st, State::kComplete);
  HttpRequest r = p.take();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/Prompting");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.body, "hello");
  ASSERT_NE(r.header("bt_header_dendrite_nonce"), nullptr);
  EXPECT_EQ(*r.header("bt_header_dendrite_nonce"), "42");
  EXPECT_TRUE(r.keep_alive);
}

TEST(HttpParser, StopsAtMessageEndForPipelinedRequests) {
  std::string two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed(two, used), State::kComplete);
  EXPECT_EQ(p.take().path, "/a");
  p.reset();
  size_t used2 = 0;
  ASSERT_EQ(p.feed(std::string_view(two).substr(used), used2), State::kComplete);
  EXPECT_EQ(p.take().path, "/b");
  EXPECT_EQ(used + used2, two.size());
}

TEST(HttpParser, DecodesChunkedBodyAndHonoursConnectionClose) {
  std::string raw =
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  RequestParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed(raw, used), State::kComplete);
  HttpRequest r = p.take();
  EXPECT_EQ(r.body, "abcde");
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpParser, OversizedHeadersAre431) {
  ParseLimits lim;
  lim.max_header_bytes = 256;
  RequestParser p(lim);
  std::string raw = "GET / HTTP/1.1\r\nX-Big: " + std::string(400, 'a') + "\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.feed(raw, used), State::kError);
  EXPECT_EQ(p.error_status(), 431);
}

TEST(HttpParser, DeclaredOversizedBodyIs413BeforeTheBodyArrives) {
  ParseLimits lim;
  lim.max_body_bytes = 100;
  RequestParser p(lim);
  size_t used = 0;
  ASSERT_EQ(p.feed("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", used), State::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(HttpParser, ChunkedBodyOverLimitIs413) {
  ParseLimits lim;
  lim.max_body_bytes = 4;
  RequestParser p(lim);
  size_t used = 0;
  ASSERT_EQ(p.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", used),
            State::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(HttpParser, GarbageIs400AndTooManyHeadersIs431) {
  RequestParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nBad Header\r\n\r\n", used), State::kError);
  EXPECT_EQ(p.error_status(), 400);
  EXPECT_FALSE(p.error_message().empty());

  ParseLimits lim;
  lim.max_headers = 3;
  RequestParser q(lim);
  std::string raw = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) raw += "H" + std::to_string(i) + ": v\r\n";
  ASSERT_EQ(q.feed(raw + "\r\n", used), State::kError);
  EXPECT_EQ(q.error_status(), 431);
}

TEST(HttpParser, ReportsExpectContinueAfterHeaders) {
  RequestParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", used),
            State::kNeedMore);
  EXPECT_TRUE(p.wants_continue());
  ASSERT_EQ(p.feed("abc", used), State::kComplete);
}

TEST(HttpResponse, EncodesHeadChunksAndStripsHeaderInjection) {
  HttpResponse r;
  r.header("X-A", "one\r\nInjected: yes");
  r.body = "hi";
  std::string wire = encode_response(r, true, 1);
  EXPECT_EQ(wire.find("\r\nInjected"), std::string::npos);
  EXPECT_NE(wire.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(encode_chunk("hello"), "5\r\nhello\r\n");
  std::string head = encode_head(200, {}, -1, false, 1);
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace ember::net::http
