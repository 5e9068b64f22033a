#pragma once
// One exception type for every refusal: the message names the file or argument, what was found
// and what was expected. The CLI prints it as one line on stderr and exits nonzero.
#include <stdexcept>
#include <string>

namespace lowrank {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace lowrank
