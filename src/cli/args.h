#pragma once
// A small command-line parser: flags with values, boolean switches and positionals, with errors
// that name the flag.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace llmr::cli {

class Args {
 public:
  // value_flags take a value ("-m x" or "--model=x"); switches do not. Unknown flags are errors.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
       const std::set<std::string>& switches);

  bool has(const std::string& flag) const { return values_.count(flag) || set_.count(flag); }
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& fallback) const;
  // Numeric values; throw Error naming the flag when the text is not a number in range.
  long long get_int(const std::string& flag, long long fallback, long long lo, long long hi) const;
  double get_float(const std::string& flag, double fallback, double lo, double hi) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> set_;
  std::vector<std::string> positional_;
};

}  // namespace llmr::cli
