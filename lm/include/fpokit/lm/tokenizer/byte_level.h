#pragma once
// GPT-2's byte-level alphabet: every byte maps to one printable character (bytes that are
// printable Latin-1 map to themselves, the others to U+0100 and up), so that BPE over these
// characters covers any byte string and vocab entries are valid text. HF's ByteLevel
// pre-tokenizer applies the map; its ByteLevel decoder reverses it.
#include <optional>
#include <string>
#include <string_view>

namespace fpokit::lm {

// The UTF-8 of the character that stands for each byte of `bytes`, concatenated.
std::string byte_level_encode(std::string_view bytes);
// The bytes a byte-level token stands for; nullopt when one of its characters is outside the
// alphabet (HF's decoder then keeps the token's own UTF-8, e.g. for added tokens with spaces).
std::optional<std::string> byte_level_decode(std::string_view token);

}  // namespace fpokit::lm
