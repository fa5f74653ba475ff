#include "tokenizer/unicode_nfc.h"

#include <algorithm>
#include <vector>

#include "tokenizer/unicode_nfc_data.h"
#include "tokenizer/utf8.h"

namespace llmr {
namespace {

using namespace nfc_data;

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::upper_bound(kCccRanges, kCccRanges + kCccRangeCount, cp,
                             [](uint32_t v, const CccRange& r) { return v < r.first; });
  if (it == kCccRanges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

const Decomposition* find_decomposition(uint32_t cp) {
  auto it = std::lower_bound(kDecompositions, kDecompositions + kDecompositionCount, cp,
                             [](const Decomposition& d, uint32_t v) { return d.cp < v; });
  return it != kDecompositions + kDecompositionCount && it->cp == cp ? it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = cp >= 0xC0 ? find_decomposition(cp) : nullptr;
  if (!d) { out.push_back(cp); return; }
  decompose(d->first, out);
  if (d->second) decompose(d->second, out);
}

// 0 when the pair has no primary composite.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(kCompositions, kCompositions + kCompositionCount, std::make_pair(a, b),
                             [](const Composition& c, std::pair<uint32_t, uint32_t> v) {
                               return c.first != v.first ? c.first < v.first : c.second < v.second;
                             });
  if (it != kCompositions + kCompositionCount && it->first == a && it->second == b) return it->composite;
  return 0;
}

}  // namespace

std::string nfc_normalize(std::string_view text) {
  // Fast path: text below U+0300 is already NFC (no combining marks, no Hangul jamo).
  bool simple = true;
  for (unsigned char c : text) {
    if (c >= 0xCC) { simple = false; break; }
  }
  if (simple) return std::string(text);

  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) decompose(utf8::next(text, pos), cps);

  // Canonical ordering: stable sort each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (combining_class(cps[i]) == 0) { ++i; continue; }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }

  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;  // index in out of the last starter
  int last_ccc = -1;
  for (uint32_t cp : cps) {
    int ccc = combining_class(cp);
    if (starter != SIZE_MAX && (last_ccc < ccc || (last_ccc == 0 && out.size() == starter + 1))) {
      // Not blocked: either adjacent to the starter or every mark between has a lower class.
      uint32_t composite = compose_pair(out[starter], cp);
      if (composite && (last_ccc < ccc || out.size() == starter + 1)) {
        out[starter] = composite;
        continue;
      }
    }
    if (ccc == 0) {
      starter = out.size();
      last_ccc = 0;
    } else {
      last_ccc = ccc;
    }
    out.push_back(cp);
  }
  std::string result;
  result.reserve(text.size());
  for (uint32_t cp : out) utf8::append(result, cp);
  return result;
}

}  // namespace llmr
