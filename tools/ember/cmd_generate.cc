#include "engine/core/error.h"
#include "tools/ember/commands.h"

namespace ember::cli {

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "(not yet implemented)");
  cmd->callback([] { fail("generate: not implemented yet"); });
}

}  // namespace ember::cli
