#pragma once
// UTF-8 and Unicode helpers for the tokenizers. Character properties follow the definitions HF
// tokenizers (Rust) uses, so that added-token matching and decoding give the same bytes:
//  - whitespace: the Unicode White_Space property (Rust's char::is_whitespace and regex \s);
//  - word characters: Rust regex's Unicode \w (Alphabetic, marks, decimal digits, connector
//    punctuation, Join_Control);
//  - lossy decoding: each maximal invalid subpart becomes one U+FFFD (Rust's from_utf8_lossy).
// Properties and normalization come from ICU.
#include <cstddef>
#include <string>
#include <string_view>

namespace fpokit::lm {

// The code point at text[pos], advancing pos past it. `text` must be valid UTF-8 there.
char32_t utf8_next(std::string_view text, std::size_t& pos);
// Byte length of the UTF-8 sequence starting with `lead` (1 for a non-lead byte).
std::size_t utf8_sequence_length(unsigned char lead);
void utf8_append(std::string& out, char32_t code_point);

// Offset of the first byte that is not part of a valid UTF-8 sequence, or npos.
std::size_t utf8_find_invalid(std::string_view text);
// Throws TokenizerError("<what> is not valid UTF-8 (byte 0x.. at offset N)") for invalid text.
void require_valid_utf8(std::string_view text, const std::string& what);
// `bytes` as UTF-8 with every maximal invalid subpart replaced by U+FFFD.
std::string utf8_lossy(std::string_view bytes);

bool is_unicode_whitespace(char32_t c);
bool is_word_character(char32_t c);
// Whether `text` ends / starts with a word character (false when empty).
bool ends_with_word_character(std::string_view text);
bool starts_with_word_character(std::string_view text);
// Byte length of the whitespace run that ends / starts `text`.
std::size_t trailing_whitespace_bytes(std::string_view text);
std::size_t leading_whitespace_bytes(std::string_view text);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// `text` (valid UTF-8) in the given Unicode normalization form.
std::string unicode_normalize(std::string_view text, NormalForm form);

}  // namespace fpokit::lm
