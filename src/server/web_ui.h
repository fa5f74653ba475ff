#pragma once
// The chat page served at GET /, compiled into the binary.
#include <string>

namespace llmr::server {

const std::string& web_ui_html();

}  // namespace llmr::server
