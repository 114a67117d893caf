#pragma once
// jinja2's built-in filters and tests, as a chat template sees them under HF's environment (whose
// tojson is json.dumps with ensure_ascii=False and keeps key order).
#include <string>
#include <string_view>

#include "jinja_value.h"

namespace fpokit::lm::jinja {

bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);

// Both throw TemplateRuntimeError for bad arguments or types, with jinja2's wording where it has one.
Value apply_filter(std::string_view name, const Value& input, const ValueList& args, const KeywordArgs& kwargs);
bool apply_test(std::string_view name, const Value& input, const ValueList& args, const KeywordArgs& kwargs);

// json.dumps(value, ensure_ascii=False, indent=..., separators=..., sort_keys=...).
std::string to_json(const Value& value, const Value& indent, const Value& separators, bool sort_keys,
                    bool ensure_ascii);

// Python's `item in container` (substring for strings, key for dicts, element for lists).
bool value_contains(const Value& container, const Value& item);

}  // namespace fpokit::lm::jinja
