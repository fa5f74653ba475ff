// Stop sequences across chunk boundaries and the HTTP request-head parser on good and bad input.
#include <gtest/gtest.h>

#include "server/http_server.h"
#include "server/stop_matcher.h"
#include "test_util.h"

namespace llmr::server {
namespace {

TEST(StopMatcher, HoldsBackAcrossPiecesAndCutsAtTheStop) {
  StopMatcher m({"END", "\n\n"});
  std::string out = m.push("Hello E");
  EXPECT_EQ(out, "Hello ");  // "E" may begin END
  out += m.push("N");
  EXPECT_EQ(out, "Hello ");
  out += m.push("Dless");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "Hello ");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, RandomSplitsGiveTheSameText) {
  // Any split of the text into pieces gives what cutting the whole text at the first stop gives.
  const std::string text = "and the LORD said unto Moses, Stretch out thine hand; and it was so.";
  const std::vector<std::string> stops{"hand;", "xyz", "Moses, S"};
  size_t cut = std::string::npos;
  for (auto& s : stops) cut = std::min(cut, text.find(s));
  for (int trial = 0; trial < 200; ++trial) {
    StopMatcher m(stops);
    std::string out;
    size_t pos = 0;
    std::uniform_int_distribution<size_t> len(0, 6);
    while (pos < text.size() && !m.stopped()) {
      const size_t n = std::min(len(testing::rng()), text.size() - pos);
      std::string piece = m.push(text.substr(pos, n));
      for (auto& s : stops) EXPECT_EQ(piece.find(s), std::string::npos);
      out += piece;
      pos += n;
    }
    out += m.flush();
    EXPECT_EQ(out, text.substr(0, cut));
  }
}

TEST(StopMatcher, NoStopsPassesEverything) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_EQ(m.flush(), "");
}

TEST(HttpParse, GoodAndBadHeads) {
  HttpRequest r;
  ASSERT_TRUE(parse_request_head("POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n", r));
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/chat/completions");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.header("content-length"), "5");
  for (const char* bad : {"", "GET\r\n", "GET / HTTP/2.0\r\n", "GET nope HTTP/1.1\r\n", "G(T / HTTP/1.1\r\n",
                          "GET / HTTP/1.1\r\nNoColon\r\n", "GET / HTTP/1.1\r\n: empty\r\n"}) {
    HttpRequest x;
    EXPECT_FALSE(parse_request_head(bad, x)) << bad;
  }
  // Random bytes never crash the parser.
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 2000; ++i) {
    std::string s(size_t(byte(testing::rng()) % 64), '\0');
    for (char& c : s) c = char(byte(testing::rng()));
    HttpRequest x;
    parse_request_head(s, x);
  }
}

}  // namespace
}  // namespace llmr::server
