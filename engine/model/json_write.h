#pragma once
// Kept so existing includes keep working: JSON writing lives in engine/core/json_text.h.
#include "engine/core/json_text.h"
