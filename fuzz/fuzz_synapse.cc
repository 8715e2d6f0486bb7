// libFuzzer target: synapse JSON bodies (simdjson decode into the synapse, then the echo with a
// completion, which must itself decode again), synapse headers, and OpenAI chat bodies. Bad
// input must end in the decoders' own exceptions, never a crash.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "net/axon/synapse.h"
#include "net/axon/synapse_headers.h"
#include "net/openai/chat_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ember::net;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  try {
    axon::Synapse s = axon::decode_synapse(input);
    // The answer we would send must be valid JSON that decodes to the same messages.
    std::string out = axon::encode_synapse(s, input.substr(0, 64));
    axon::Synapse back = axon::decode_synapse(out);
    if (back.messages != s.messages || back.roles != s.roles) __builtin_trap();
    (void)axon::synapse_messages(s);
  } catch (const axon::SynapseError&) {
  }

  try {
    (void)openai::decode_chat_request(input, 16);
  } catch (const openai::RequestError&) {
  }

  // Lines "name: value" as headers.
  http::HeaderList headers;
  size_t pos = 0;
  while (pos < input.size() && headers.size() < 64) {
    size_t eol = input.find('\n', pos);
    std::string_view line = input.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos)
      headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  try {
    axon::SynapseHeaders h = axon::parse_synapse_headers(headers);
    axon::AxonSelf self{"hk", "uuid", "1", "2", ""};
    (void)axon::response_headers(h, "Prompting", "127.0.0.1", 1, self, 200, "Success", 0.1);
    (void)h.timeout_seconds();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
