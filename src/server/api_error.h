#pragma once
// An error answered to an API client: the HTTP status and the message (and, for OpenAI, the
// offending parameter and error type).
#include <string>

#include "core/error.h"

namespace llmr::server {

class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string type = "")
      : Error(message), status(status), param(std::move(param)), type(std::move(type)) {}
  int status;
  std::string param, type;
};

}  // namespace llmr::server
