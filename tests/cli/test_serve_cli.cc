// `ember serve` through the binary, on loopback with an ephemeral port (--port 0; the port is
// read from the startup log): the built-in demo model, /health, an OpenAI completion, SIGHUP
// reloads, SIGTERM drains and exits 0, and the usage errors.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// Generous bounds on waiting for the server (a loaded CI machine); they are not timings.
constexpr auto kStartBound = std::chrono::seconds(120);
constexpr auto kExitBound = std::chrono::seconds(60);

using CmdResult = ember::test::CommandResult;

// Runs a shell command line, stdout and stderr together.
CmdResult shell(const std::string& cmd) { return ember::test::run_command(cmd + " 2>&1"); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct HttpResult {
  int status = 0;
  std::string body;
};

// curl prints the body, then the status on a line of its own.
HttpResult http(const std::string& curl_args) {
  CmdResult r = shell("curl -s --max-time 60 -w '\\n%{http_code}' " + curl_args);
  HttpResult h;
  const size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return h;
  h.body = r.out.substr(0, nl);
  h.status = std::atoi(r.out.c_str() + nl + 1);
  return h;
}

class ServeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ember::test::per_test_dir("ember_serve_cli");
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  std::string env() const {
    return "env HOME=" + (dir_ / "home").string() + " XDG_CACHE_HOME=" + (dir_ / "cache").string() + " ";
  }
  std::string wallet() const { return (dir_ / "wallet").string(); }
  fs::path log_path() const { return dir_ / "serve.log"; }
  std::string log() const { return read_file(log_path()); }

  // `ember key new` into the test's wallet; returns the SS58 address it printed.
  std::string make_hotkey() {
    CmdResult r = shell(ember::test::ember_binary() + " key new --wallet.path " + wallet());
    EXPECT_EQ(r.code, 0) << r.out;
    const size_t at = r.out.find("ss58:");
    if (at == std::string::npos) return "";
    std::istringstream is(r.out.substr(at + 5));
    std::string ss58;
    is >> ss58;
    return ss58;
  }

  // Starts `ember serve ARGS` in the background with the test's HOME and cache, output to the
  // log; returns the port from the "listening on" line, or 0 when it never came.
  int start_server(const std::vector<std::string>& args) {
    fs::remove(log_path());  // a previous run's "listening" line must not be read as this one's
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("HOME", (dir_ / "home").c_str(), 1);
      ::setenv("XDG_CACHE_HOME", (dir_ / "cache").c_str(), 1);
      std::FILE* f = std::freopen(log_path().c_str(), "w", stdout);
      if (!f) ::_exit(99);
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      std::vector<std::string> all = {ember::test::ember_binary(), "serve"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(98);
    }
    const std::string marker = "listening on http://127.0.0.1:";
    const auto until = Clock::now() + kStartBound;
    while (Clock::now() < until) {
      const std::string text = log();
      if (const size_t at = text.find(marker); at != std::string::npos)
        return std::atoi(text.c_str() + at + marker.size());
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }

  // Waits for the log to contain `text` (bounded).
  bool log_shows(const std::string& text) {
    const auto until = Clock::now() + kStartBound;
    while (Clock::now() < until) {
      if (log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // The server's exit code, or -1 when it did not exit within the bound (then it is killed).
  int wait_exit() {
    const auto until = Clock::now() + kExitBound;
    while (Clock::now() < until) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  std::string url(int port, const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  fs::path dir_;
  pid_t pid_ = -1;
};

// Greedy: the demo model never samples an end token then (see below), so a reply always runs to
// max_tokens; sampled, it sometimes ends early and the counts below would flake.
const char* kChatBody =
    R"('{"messages":[{"role":"user","content":"hello"}],"max_tokens":8,"temperature":0}')";

TEST_F(ServeCli, DemoModelServesHealthAndCompletionsThenStopsOnSigterm) {
  const std::string ss58 = make_hotkey();
  ASSERT_FALSE(ss58.empty());
  // Settings from a TOML file, the port from a flag (flags win over the file's port).
  {
    std::ofstream cfg(dir_ / "serve.toml");
    cfg << "host = \"127.0.0.1\"\nport = 9\nstats-interval = 0\nmax-tokens = 4\ndeadline-margin-ms = 750\n"
        << "v1-access = \"open\"\n"
        << "[wallet]\npath = \"" << wallet() << "\"\n";
  }
  const int port = start_server({"--config", (dir_ / "serve.toml").string(), "--port", "0"});
  ASSERT_GT(port, 0) << log();
  EXPECT_THAT(log(), HasSubstr("RANDOM"));
  EXPECT_THAT(log(), HasSubstr("GIBBERISH"));
  EXPECT_THAT(log(), HasSubstr(ss58));
  EXPECT_THAT(log(), HasSubstr("blocks x 16 tokens"));
  // --deadline-margin-ms from the file: the axon takes 700 ms off a caller's timeout, the engine
  // keeps 50 ms (and one step) before that.
  EXPECT_THAT(log(), HasSubstr("replies end 750 ms before the caller's timeout (axon 700 ms, engine 50 ms"));
  EXPECT_TRUE(fs::exists(dir_ / "cache" / "ember" / "demo-model" / "model.safetensors"));

  HttpResult h = http(url(port, "/health"));
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_THAT(h.body, HasSubstr("\"ok\""));

  HttpResult c = http("-H 'Content-Type: application/json' -d " + std::string(kChatBody) + " " +
                      url(port, "/v1/chat/completions"));
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_THAT(c.body, HasSubstr("\"object\":\"chat.completion\""));
  EXPECT_THAT(c.body, HasSubstr("\"model\":\"ember-demo\""));
  EXPECT_THAT(c.body, HasSubstr("\"completion_tokens\":8"));
  EXPECT_THAT(c.body, HasSubstr("\"finish_reason\":\"length\""));

  // The file's max-tokens applies when the request gives none.
  HttpResult d = http("-d '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0}' " +
                      url(port, "/v1/chat/completions"));
  EXPECT_EQ(d.status, 200) << d.body;
  EXPECT_THAT(d.body, HasSubstr("\"completion_tokens\":4"));

  // Out-of-range sampling is the client's fault.
  HttpResult bad = http("-d '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":7}' " +
                        url(port, "/v1/chat/completions"));
  EXPECT_EQ(bad.status, 400) << bad.body;

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  EXPECT_EQ(wait_exit(), 0) << log();
  EXPECT_THAT(log(), HasSubstr("SIGTERM: stopping"));
  EXPECT_THAT(log(), HasSubstr("stopped"));
}

TEST_F(ServeCli, SighupReloadsListsAndKeepsOldOnBadFile) {
  // The miner's hotkey (wallet "default") and a validator's (wallet "validator"), both from
  // `ember key new`; the validator calls the axon with `ember query`, a signed Prompting synapse.
  const std::string miner = make_hotkey();
  ASSERT_FALSE(miner.empty());
  CmdResult vk = shell(ember::test::ember_binary() + " key new --wallet.path " + wallet() +
                       " --wallet.name validator");
  ASSERT_EQ(vk.code, 0) << vk.out;
  const size_t at = vk.out.find("ss58:");
  ASSERT_NE(at, std::string::npos) << vk.out;
  std::string validator;
  std::istringstream(vk.out.substr(at + 5)) >> validator;
  ASSERT_FALSE(validator.empty());

  // Only the miner's own hotkey is allowed at first: the validator is refused.
  const fs::path allow = dir_ / "allow.txt";
  std::ofstream(allow) << miner << "\n";
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--allow-hotkeys", allow.string(), "--stats-interval", "0",
                                 "--max-tokens", "4", "--v1-access", "open"});
  ASSERT_GT(port, 0) << log();
  auto query = [&] {
    return shell(ember::test::ember_binary() + " query --axon 127.0.0.1:" + std::to_string(port) +
                 " --axon-hotkey " + miner + " --wallet.path " + wallet() +
                 " --wallet.name validator --prompt hello --timeout 60");
  };
  CmdResult refused = query();
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("axon answered 403: Forbidden. Key is blacklisted: Unrecognized hotkey."));

  // The allow file now names the validator; SIGHUP reloads it without a restart.
  std::ofstream(allow) << "# reloaded\n" << validator << "\n";
  ASSERT_EQ(::kill(pid_, SIGHUP), 0);
  EXPECT_TRUE(log_shows("SIGHUP: access lists reloaded")) << log();
  CmdResult served = query();
  EXPECT_EQ(served.code, 0) << served.out << log();
  EXPECT_THAT(served.out, Not(HasSubstr("axon answered")));

  // A bad file is refused and the previous lists stay: the validator is still served.
  std::ofstream(allow) << "not-an-address\n";
  ASSERT_EQ(::kill(pid_, SIGHUP), 0);
  EXPECT_TRUE(log_shows("reload failed, keeping the previous lists")) << log();
  EXPECT_THAT(log(), HasSubstr("not-an-address"));
  CmdResult kept = query();
  EXPECT_EQ(kept.code, 0) << kept.out << log();

  // Still serving after both reloads.
  EXPECT_EQ(http(url(port, "/health")).status, 200);
  HttpResult c = http("-d " + std::string(kChatBody) + " " + url(port, "/v1/chat/completions"));
  EXPECT_EQ(c.status, 200) << c.body;

  ASSERT_EQ(::kill(pid_, SIGINT), 0);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(ServeCli, SigtermDuringGenerationExitsZeroAfterGrace) {
  ASSERT_FALSE(make_hotkey().empty());
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0", "--shutdown-grace", "1", "--v1-access", "open"});
  ASSERT_GT(port, 0) << log();
  // A streamed request far longer than the grace period, run in the background. Greedy: the
  // demo model then settles into a loop that never samples an end token.
  const fs::path out = dir_ / "stream.out";
  const std::string bg = "curl -s -N --max-time 120 -d "
                         "'{\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],\"max_tokens\":100000,"
                         "\"temperature\":0,\"stream\":true}' " +
                         url(port, "/v1/chat/completions") + " > " + out.string() + " 2>&1 &";
  ASSERT_EQ(std::system(bg.c_str()), 0);
  // Wait until the engine is generating it.
  bool running = false;
  for (const auto until = Clock::now() + kStartBound; !running && Clock::now() < until;) {
    running = http(url(port, "/metrics")).body.find("ember_engine_running 1") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(running) << log();

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  EXPECT_EQ(wait_exit(), 0) << log();
  // The client got a part of the reply.
  EXPECT_THAT(read_file(out), HasSubstr("data:"));
}

TEST_F(ServeCli, StopStringsEndTheReplyAndAGoneClientCancelsItsRequest) {
  ASSERT_FALSE(make_hotkey().empty());
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0", "--v1-access", "open"});
  ASSERT_GT(port, 0) << log();
  // Greedy, the demo model never ends on its own (see above), so "stop" can only come from the
  // stop string, which is not part of the reply.
  HttpResult c = http("-d '{\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],\"max_tokens\":2000,"
                      "\"temperature\":0,\"stop\":[\"\\n\"]}' " +
                      url(port, "/v1/chat/completions"));
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_THAT(c.body, HasSubstr("\"finish_reason\":\"stop\""));
  EXPECT_THAT(c.body, Not(HasSubstr("\\n")));

  // A client that hangs up mid-stream: its sequence leaves the engine.
  CmdResult gone = shell("curl -s -N --max-time 1 -d '{\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],"
                         "\"max_tokens\":100000,\"temperature\":0,\"stream\":true}' " +
                         url(port, "/v1/chat/completions"));
  EXPECT_THAT(gone.out, HasSubstr("data:"));
  bool idle = false;
  for (const auto until = Clock::now() + kStartBound; !idle && Clock::now() < until;) {
    idle = http(url(port, "/metrics")).body.find("ember_engine_running 0") != std::string::npos;
    if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(idle);
  EXPECT_EQ(http(url(port, "/health")).status, 200);
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(ServeCli, ServesARealModelFolderUnderItsName) {
  EMBER_REQUIRE_ASSET("models/stories260K/hf");
  ASSERT_FALSE(make_hotkey().empty());
  const int port = start_server({"--model", ember::test::asset("models/stories260K/hf"), "--model-name", "stories",
                                 "--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0", "--api-key", "sekrit"});
  ASSERT_GT(port, 0) << log();
  EXPECT_THAT(log(), Not(HasSubstr("DEMO")));
  EXPECT_FALSE(fs::exists(dir_ / "cache" / "ember" / "demo-model"));
  EXPECT_EQ(http(url(port, "/v1/models")).status, 401);
  HttpResult m = http("-H 'Authorization: Bearer sekrit' " + url(port, "/v1/models"));
  EXPECT_EQ(m.status, 200) << m.body;
  EXPECT_THAT(m.body, HasSubstr("\"id\":\"stories\""));
  HttpResult c = http("-H 'Authorization: Bearer sekrit' -d '{\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"Once upon a time\"}],\"max_tokens\":12,\"temperature\":0}' " +
                      url(port, "/v1/chat/completions"));
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_THAT(c.body, HasSubstr("\"model\":\"stories\""));
  // TinyStories weights: greedy continues the story in English.
  EXPECT_THAT(c.body, HasSubstr("there was"));
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(ServeCli, MissingModelFolderIsAnError) {
  ASSERT_FALSE(make_hotkey().empty());
  CmdResult r = shell(env() + ember::test::ember_binary() + " serve --port 0 --wallet.path " + wallet() +
                      " --model " + (dir_ / "nowhere").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("nowhere"));
}

TEST_F(ServeCli, ReusesTheCachedDemoModel) {
  ASSERT_FALSE(make_hotkey().empty());
  const std::vector<std::string> args = {"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                         "--stats-interval", "0"};
  ASSERT_GT(start_server(args), 0) << log();
  ::kill(pid_, SIGTERM);
  ASSERT_EQ(wait_exit(), 0) << log();
  const fs::path weights = dir_ / "cache" / "ember" / "demo-model" / "model.safetensors";
  ASSERT_TRUE(fs::exists(weights));
  // Marks the cached copy: a rewrite would replace the file (and drop the mark).
  ::chmod(weights.c_str(), 0400);
  const auto mtime = fs::last_write_time(weights);

  ASSERT_GT(start_server(args), 0) << log();
  ::kill(pid_, SIGTERM);
  ASSERT_EQ(wait_exit(), 0) << log();
  EXPECT_EQ(fs::last_write_time(weights), mtime);
  EXPECT_EQ(fs::status(weights).permissions() & fs::perms::all, fs::perms::owner_read);
}

TEST_F(ServeCli, MissingWalletIsAClearErrorExit1) {
  // A real model needs the miner's own hotkey: checked before the model loads.
  CmdResult r = shell(env() + ember::test::ember_binary() + " serve --port 0 --wallet.path " + wallet() +
                      " --model " + dir_.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("no hotkey at"));
  EXPECT_THAT(r.out, HasSubstr("ember key new --wallet.path " + wallet()));
  EXPECT_THAT(r.out, Not(HasSubstr("listening")));
  EXPECT_THAT(r.out, Not(HasSubstr("throwaway")));
}

TEST_F(ServeCli, DemoWithoutAWalletRunsOnAThrowawayHotkey) {
  // README's one run command on a fresh machine: no wallet, no model.
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0"});
  ASSERT_GT(port, 0) << log();
  EXPECT_THAT(log(), HasSubstr("throwaway hotkey 5"));
  EXPECT_THAT(log(), HasSubstr("RANDOM"));
  // Nothing is written into the wallet folder: the key dies with the process.
  EXPECT_FALSE(fs::exists(wallet()));
  EXPECT_EQ(http(url(port, "/health")).status, 200);
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

// The "content" member of a whole chat completion's JSON, as text ("" when there is none).
std::string content(const std::string& j) {
  const size_t at = j.find("\"content\":");
  return at == std::string::npos ? std::string() : j.substr(at, j.find("},", at) - at);
}

TEST_F(ServeCli, SamplingDefaultsApplyToRequestsThatSetNone) {
  ASSERT_FALSE(make_hotkey().empty());
  // Greedy as the server's default: two identical requests without sampling settings get the
  // same reply (sampled with fresh seeds, as by default, they would differ), and a request's own
  // temperature still wins.
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0", "--temperature", "0", "--max-tokens", "24",
                                 "--v1-access", "open"});
  ASSERT_GT(port, 0) << log();
  const std::string body = R"('{"messages":[{"role":"user","content":"hello"}]}')";
  HttpResult a = http("-d " + body + " " + url(port, "/v1/chat/completions"));
  HttpResult b = http("-d " + body + " " + url(port, "/v1/chat/completions"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_FALSE(content(a.body).empty()) << a.body;
  EXPECT_EQ(content(a.body), content(b.body));
  int differing = 0;
  for (int i = 0; i < 3; ++i) {
    HttpResult s = http(R"(-d '{"messages":[{"role":"user","content":"hello"}],"temperature":1.5}' )" +
                        url(port, "/v1/chat/completions"));
    EXPECT_EQ(s.status, 200) << s.body;
    differing += content(s.body) != content(a.body);
  }
  EXPECT_GT(differing, 0) << "a request's temperature did not override the server's greedy default";
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(ServeCli, TopKCapBoundsEveryRequestsDraw) {
  ASSERT_FALSE(make_hotkey().empty());
  // --top-k-cap 1 leaves one candidate per step whatever the request asks, so hot sampling with a
  // wide top_k gives the greedy reply (without the cap such requests differ: see above).
  const int port = start_server({"--host", "127.0.0.1", "--port", "0", "--wallet.path", wallet(),
                                 "--stats-interval", "0", "--max-tokens", "24", "--top-k-cap", "1",
                                 "--v1-access", "open"});
  ASSERT_GT(port, 0) << log();
  HttpResult greedy = http(R"(-d '{"messages":[{"role":"user","content":"hello"}],"temperature":0}' )" +
                           url(port, "/v1/chat/completions"));
  ASSERT_EQ(greedy.status, 200) << greedy.body;
  EXPECT_FALSE(content(greedy.body).empty()) << greedy.body;
  for (int i = 0; i < 3; ++i) {
    HttpResult hot = http(R"(-d '{"messages":[{"role":"user","content":"hello"}],"temperature":1.5,"top_k":50}' )" +
                          url(port, "/v1/chat/completions"));
    ASSERT_EQ(hot.status, 200) << hot.body;
    EXPECT_EQ(content(hot.body), content(greedy.body));
  }
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(ServeCli, BadSamplingDefaultsAreAnErrorNamingTheParameter) {
  ASSERT_FALSE(make_hotkey().empty());
  CmdResult r = shell(env() + ember::test::ember_binary() + " serve --port 0 --stats-interval 0 --wallet.path " +
                      wallet() + " --top-p 7");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("sampling defaults"));
  EXPECT_THAT(r.out, HasSubstr("top_p"));
  EXPECT_THAT(r.out, Not(HasSubstr("listening")));
}

TEST_F(ServeCli, BadFlagsExit2) {
  for (const std::string args : {"--no-such-flag", "--port abc", "--port 70000", "--max-batch 0", "--workers",
                                 "--shutdown-grace -1", "--deadline-margin-ms -1", "--deadline-margin-ms abc",
                                 "--deadline-margin-ms 60001"}) {
    CmdResult r = shell(env() + ember::test::ember_binary() + " serve " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
  }
}

TEST_F(ServeCli, BadConfigFileIsAnErrorNamingTheKey) {
  struct Case {
    std::string toml, expect;
  };
  for (const Case& c : {Case{"bogus = 1\n", "unknown key 'bogus'"}, Case{"port = \"x\"\n", "port = x"},
                        Case{"port = [\n", "serve.toml:1"}, Case{"[wallet]\nname = [1]\n", "wallet.name"},
                        Case{"deadline-margin-ms = -5\n", "deadline-margin-ms = -5"}}) {
    std::ofstream(dir_ / "serve.toml") << c.toml;
    CmdResult r = shell(env() + ember::test::ember_binary() + " serve --config " + (dir_ / "serve.toml").string() +
                        " --wallet.path " + wallet());
    EXPECT_EQ(r.code, 1) << c.toml << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.expect)) << c.toml;
  }
}

}  // namespace
