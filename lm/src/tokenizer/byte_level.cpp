#include "fpokit/lm/tokenizer/byte_level.h"

#include <array>
#include <unordered_map>

#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {
namespace {

struct ByteLevelAlphabet {
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<char32_t, unsigned char> char_to_byte;

  ByteLevelAlphabet() {
    // Bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves; the remaining 68 bytes take
    // the code points 256, 257, ... in byte order.
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      utf8_append(byte_to_utf8[b], c);
      char_to_byte[c] = static_cast<unsigned char>(b);
    }
  }
};

const ByteLevelAlphabet& alphabet() {
  static const ByteLevelAlphabet instance;
  return instance;
}

}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  const auto& table = alphabet().byte_to_utf8;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char b : bytes) out += table[static_cast<unsigned char>(b)];
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view token) {
  const auto& map = alphabet().char_to_byte;
  std::string out;
  out.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    const auto it = map.find(utf8_next(token, pos));
    if (it == map.end()) return std::nullopt;
    out += static_cast<char>(it->second);
  }
  return out;
}

}  // namespace fpokit::lm
