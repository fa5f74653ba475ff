#pragma once
// Flags several subcommands share: which model and how to run it, and how to sample.
#include <set>
#include <string>

#include "cli/args.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace llmr::cli {

// -m MODEL, -t THREADS, -c CTX, --device cpu|cuda|reference, --kv-type f16|f32|q8_0
extern const std::set<std::string> kEngineFlags;
// --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --seed
extern const std::set<std::string> kSamplingFlags;

// The union of flag sets, for Args' value flags.
std::set<std::string> flags(std::initializer_list<std::set<std::string>> sets);

EngineOptions engine_options(const Args& args);
// Sampling settings; the seed is random when --seed is absent. Validated.
SamplingParams sampling_params(const Args& args);

}  // namespace llmr::cli
