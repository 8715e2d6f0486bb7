#include "engine/serve/text_codec.h"

#include "engine/core/error.h"

namespace ember {

void TextCodec::fail_no_text_encoder() { fail("prompt: this model's text codec cannot tokenize raw text"); }

}  // namespace ember
