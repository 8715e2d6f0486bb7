#include "engine/text/token_text.h"

#include <string_view>

namespace ember {

std::string token_text(const Tokenizer& tok, int32_t id) {
  std::string text = tok.decode({&id, 1}, DecodeOptions{false});
  const std::optional<std::string> piece = tok.id_to_token(id);
  if (!piece) return text;
  static constexpr std::string_view kMarker = "\xE2\x96\x81";  // U+2581
  size_t markers = 0;
  for (size_t i = 0; piece->compare(i, kMarker.size(), kMarker) == 0; i += kMarker.size()) ++markers;
  size_t spaces = 0;
  while (spaces < text.size() && text[spaces] == ' ') ++spaces;
  if (markers > spaces) text.insert(0, markers - spaces, ' ');
  return text;
}

}  // namespace ember
