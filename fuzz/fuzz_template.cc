// Fuzzes the template parser and renderer: any input must either render or fail with a
// TemplateError/TemplateRaise, within the render limits (no crash, hang or unbounded memory).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/text/chat_template.h"
#include "engine/text/jinja/builtins.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  static const ember::jinja::Value messages = ember::jinja::from_json(
      R"([{"role":"system","content":"sys"},{"role":"user","content":"Hi <b> 你好"},)"
      R"({"role":"assistant","content":"Hello"},{"role":"user","content":[{"type":"text","text":"x"}]}])");
  try {
    auto tmpl = ember::text::ChatTemplate::from_source(std::string(source), {"<s>", "</s>", std::nullopt, std::nullopt});
    ember::text::ChatRenderOptions options;
    options.date = "2025-01-15";
    // Tight limits keep each run fast; the limits themselves are what is being exercised.
    options.limits.max_steps = 100000;
    options.limits.max_output_bytes = 1 << 20;
    options.limits.max_list_items = 1 << 16;
    (void)tmpl.render(messages, options);
  } catch (const ember::Error&) {
  }
  return 0;
}
