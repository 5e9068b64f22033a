#pragma once
#include <nlohmann/json.hpp>

#include "lowrank/core/solution.hpp"

namespace lowrank {

nlohmann::json to_json(const SolveReport& r);

}  // namespace lowrank
