#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace llmr::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
           const std::set<std::string>& switches) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
      positional_.push_back(a);
      continue;
    }
    std::string flag = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (value_flags.count(flag)) {
      if (!inline_value) {
        check(i + 1 < argv.size(), "flag " + flag + " needs a value");
        value = argv[++i];
      }
      values_[flag] = value;
    } else if (switches.count(flag) && !inline_value) {
      set_.insert(flag);
    } else {
      throw Error("unknown flag " + flag);
    }
  }
}

std::optional<std::string> Args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& flag, const std::string& fallback) const {
  return get(flag).value_or(fallback);
}

long long Args::get_int(const std::string& flag, long long fallback, long long lo, long long hi) const {
  auto v = get(flag);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  check(!v->empty() && *end == 0 && errno == 0 && x >= lo && x <= hi,
        "flag " + flag + " wants an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
            ", got '" + *v + "'");
  return x;
}

double Args::get_float(const std::string& flag, double fallback, double lo, double hi) const {
  auto v = get(flag);
  if (!v) return fallback;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  check(!v->empty() && *end == 0 && std::isfinite(x) && x >= lo && x <= hi,
        "flag " + flag + " wants a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
            ", got '" + *v + "'");
  return x;
}

}  // namespace llmr::cli
