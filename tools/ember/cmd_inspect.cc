#include "engine/core/error.h"
#include "tools/ember/commands.h"

namespace ember::cli {

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "(not yet implemented)");
  cmd->callback([] { fail("inspect: not implemented yet"); });
}

}  // namespace ember::cli
