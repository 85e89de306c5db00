// Precompiled header for the vr library: the heavy, stable third-party headers only.
// Sources still include what they use; this file only makes that cheap.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <optional>
#include <functional>
