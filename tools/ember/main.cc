// ember: one binary for a Bittensor text-prompting miner. The binary is thin: it wires the
// libraries; each subcommand lives in its own cmd_*.cc.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "engine/core/error.h"
#include "tools/ember/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ember: a single-binary LLM inference engine for Bittensor text-prompting miners"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ember 0.1.0");
  ember::cli::add_bench_command(app);
  ember::cli::add_chat_command(app);
  ember::cli::add_embed_command(app);
  ember::cli::add_generate_command(app);
  ember::cli::add_inspect_command(app);
  ember::cli::add_key_command(app);
  ember::cli::add_make_model_command(app);
  ember::cli::add_query_command(app);
  ember::cli::add_serve_command(app);
  ember::cli::add_template_command(app);
  ember::cli::add_tokenize_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Bad flags are usage errors: message and exit code 2, as the docs promise.
    app.exit(e);
    return 2;
  } catch (const ember::Error& e) {
    std::fprintf(stderr, "ember: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
