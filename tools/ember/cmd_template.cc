// `ember template`: renders a chat template for a conversation, exactly as the engine would build
// the prompt (nothing added: no trailing newline).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "engine/text/chat_template.h"
#include "engine/text/jinja/builtins.h"
#include "tools/ember/commands.h"
#include "tools/ember/model_names.h"

namespace ember::cli {
namespace {

struct TemplateArgs {
  std::string model_dir, tokenizer_config, template_file, bos, eos, messages, tools, date;
  bool bos_set = false, eos_set = false, add_generation_prompt = false;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

jinja::Value read_json_file(const std::string& path) {
  try {
    return jinja::from_json(read_text(path));
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

void run_template(const TemplateArgs& a) {
  int sources = !a.model_dir.empty() + !a.tokenizer_config.empty() + !a.template_file.empty();
  if (sources != 1) fail("template: give exactly one of --model, --tokenizer-config, --template");
  // The other sources take their special tokens from their own config; ignoring these silently
  // would print a prompt the user did not ask for.
  if ((a.bos_set || a.eos_set) && a.template_file.empty())
    fail("template: --bos and --eos apply only to --template");
  text::ChatTemplate tmpl;
  if (!a.model_dir.empty()) {
    // A mistyped path would otherwise get the plain fallback of a folder without a template.
    if (!std::filesystem::is_directory(a.model_dir)) fail("template: --model '{}' is not a folder", a.model_dir);
    tmpl = text::ChatTemplate::from_model_dir(a.model_dir);
  } else if (!a.tokenizer_config.empty()) {
    tmpl = text::ChatTemplate::from_tokenizer_config(a.tokenizer_config);
  } else {
    text::SpecialTokens tokens;
    if (a.bos_set) tokens.bos = a.bos;
    if (a.eos_set) tokens.eos = a.eos;
    try {
      tmpl = text::ChatTemplate::from_source(read_text(a.template_file), tokens);
    } catch (const jinja::TemplateError& e) {
      fail("{}: {}", a.template_file, e.what());
    }
  }
  jinja::Value messages = read_json_file(a.messages);
  if (!messages.is_list()) fail("{}: expected a JSON list of messages", a.messages);
  text::ChatRenderOptions options;
  options.add_generation_prompt = a.add_generation_prompt;
  options.date = a.date;
  if (!a.tools.empty()) options.tools = read_json_file(a.tools);
  std::string prompt;
  try {
    prompt = tmpl.render(messages, options);
  } catch (const jinja::TemplateRaise& e) {
    throw Error(e.message());  // the template's own refusal, printed as it is
  }
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_template_command(CLI::App& app) {
  auto args = std::make_shared<TemplateArgs>();
  auto* cmd = app.add_subcommand("template", "Render a model's chat template for a conversation (prints the prompt exactly)");
  cmd->add_option("--model", args->model_dir, "Model folder (chat_template.jinja/.json or tokenizer_config.json; without a template: \"role: content\" lines)");
  cmd->add_option("--tokenizer-config", args->tokenizer_config, "A tokenizer_config.json with a chat_template");
  cmd->add_option("--template", args->template_file, "A Jinja template file");
  cmd->add_option("--bos", args->bos, "bos_token for --template")->each([args](const std::string&) { args->bos_set = true; });
  cmd->add_option("--eos", args->eos, "eos_token for --template")->each([args](const std::string&) { args->eos_set = true; });
  cmd->add_option("--messages", args->messages, "JSON file: a list of {\"role\", \"content\"} messages")->required();
  cmd->add_option("--tools", args->tools, "JSON file: a list of tool schemas (default: none)");
  cmd->add_flag("--add-generation-prompt", args->add_generation_prompt, "End with the assistant's turn header");
  cmd->add_option("--date", args->date,
                  "Date strftime_now sees, YYYY-MM-DD[THH:MM:SS] (default: $EMBER_TEMPLATE_DATE or now)");
  cmd->callback([args] {
    args->model_dir = resolve_model_arg(args->model_dir);
    run_template(*args);
  });
}

}  // namespace ember::cli
