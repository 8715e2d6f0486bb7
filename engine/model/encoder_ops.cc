// The encoder ops' defaults: a backend that has not implemented them says so by name.
#include "engine/core/error.h"
#include "engine/model/backend.h"

namespace ember {

void Backend::add_layernorm(Tensor&, const Tensor*, const Tensor&, const Tensor&, float) {
  fail("{}: add_layernorm (sentence encoders) is not implemented on this backend yet", name());
}

void Backend::gelu_erf(Tensor&) {
  fail("{}: gelu_erf (sentence encoders) is not implemented on this backend yet", name());
}

void Backend::encoder_attention(const Tensor&, const StepTensors&, const AttnShape&,
                                const Tensor*, Tensor&) {
  fail("{}: encoder_attention (sentence encoders) is not implemented on this backend yet",
       name());
}

}  // namespace ember
