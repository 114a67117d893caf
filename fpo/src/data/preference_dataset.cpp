#include "fpokit/fpo/data/preference_dataset.h"

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "fpokit/core/dataset/dataset_split.h"
#include "fpokit/core/dataset/json_lines_reader.h"
#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/errors.h"

namespace fpokit::fpo {

namespace {

using nlohmann::json;

// Calls fn(row, "FILE:LINE", line) for every record (a JSON line, an element of a JSON array, a
// Parquet row, in a file or a dataset folder's split: core::open_dataset), which must be an object.
// A file whose extension is none of the dataset formats is read as JSON lines, as before there
// were others.
void for_each_row(const std::filesystem::path& path, const PreferenceDataOptions& options,
                  const std::function<void(const json&, const std::string&, int64_t)>& fn) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError("cannot open preference data " + path.string() + ": check the path");
  const bool dataset = core::is_record_file(path) || std::filesystem::is_directory(path, ec) || !options.split.empty();
  const auto reader = dataset ? core::open_dataset(path, options.split) : std::make_unique<core::JsonLinesReader>(path);
  while (auto record = reader->next()) fn(record->value, reader->where(record->number), record->number);
}

const json& field_of(const json& row, const std::string& field, const std::string& where) {
  const auto it = row.find(field);
  if (it == row.end() || it->is_null()) throw InputError(where + ": missing field \"" + field + "\"");
  return *it;
}

ChatMessage message_of(const json& m, const std::string& field, const std::string& where) {
  const std::string what = where + ": field " + field;
  if (!m.is_object()) throw InputError(what + " must be a {\"role\", \"content\"} object, got " + m.type_name());
  for (const char* key : {"role", "content"}) {
    const auto it = m.find(key);
    if (it == m.end() || !it->is_string())
      throw InputError(what + " needs a string \"" + key + "\" (multimodal content lists are not supported)");
  }
  return {m["role"].get<std::string>(), m["content"].get<std::string>()};
}

// A field holding messages: a list, or one message object; nullopt for a plain string.
std::optional<std::vector<ChatMessage>> messages_of(const json& v, const std::string& field, const std::string& where) {
  if (v.is_string()) return std::nullopt;
  if (v.is_object()) return std::vector<ChatMessage>{message_of(v, field, where)};
  if (!v.is_array())
    throw InputError(where + ": field " + field +
                     " must be a string or a list of {\"role\", \"content\"} messages, got " + v.type_name());
  if (v.empty()) throw InputError(where + ": field " + field + " is an empty list of messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(message_of(v[i], field + "[" + std::to_string(i) + "]", where));
  return out;
}

bool same(const std::vector<ChatMessage>& a, const std::vector<ChatMessage>& b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (a[i].role != b[i].role || a[i].content != b[i].content) return false;
  return true;
}

struct RenderedRow {
  PromptText prompt;
  std::vector<std::string> completions;  // in the order of the completion fields
  std::string end_of_turn;
};

// TRL's extract_prompt for string pairs without a prompt (HH-RLHF's layout: chosen and rejected
// each hold the whole dialogue): the prompt is their common prefix, backed off by one character
// when the texts diverge right after a space, so that the completions start with " ". Python
// compares code points, so a UTF-8 sequence where the texts differ is not split; and Python's loop
// leaves idx at the last compared index when no difference is found (the prompt then drops the
// shorter text's last character): so does this.
std::string implicit_prompt(const std::string& chosen, const std::string& rejected) {
  const auto is_continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
  const size_t n = std::min(chosen.size(), rejected.size());
  if (n == 0) return {};
  size_t idx = 0;
  while (idx < n && chosen[idx] == rejected[idx]) ++idx;
  if (idx == n) {
    // No difference: back to the first byte of the last common character.
    --idx;
    while (idx > 0 && is_continuation(chosen[idx])) --idx;
    return chosen.substr(0, idx);
  }
  while (idx > 0 && is_continuation(chosen[idx])) --idx;
  // Texts that differ at their first character share no prompt. (TRL then reads chosen[-1], a
  // negative-index slip that makes no sense to copy.)
  if (idx == 0) return {};
  if (chosen[idx - 1] == ' ') --idx;
  return chosen.substr(0, idx);
}

RenderedRow render_strings(const json* prompt, const std::vector<std::string>& fields, const json& row,
                           const PreferenceDataOptions& options, const std::string& where) {
  if (prompt && !prompt->is_string())
    throw InputError(where + ": field " + options.fields.prompt + " must be a string or a list of messages, got " +
                     prompt->type_name());
  RenderedRow r;
  std::vector<std::string> texts;
  for (const auto& f : fields) texts.push_back(row[f].get<std::string>());
  std::string prompt_text;
  if (prompt) {
    prompt_text = prompt->get<std::string>();
  } else {
    if (texts.size() != 2)
      throw InputError(where + ": missing field \"" + options.fields.prompt +
                       "\" (an unpaired completion needs an explicit prompt; choose its field with --prompt-field)");
    prompt_text = implicit_prompt(texts[0], texts[1]);
    // TRL would train on an empty prompt; a pair that shares no beginning is not two answers to
    // one prompt, most likely a missing or misnamed prompt field.
    if (prompt_text.empty())
      throw InputError(where + ": no field \"" + options.fields.prompt + "\", and fields " + fields[0] + " and " +
                       fields[1] +
                       " share no beginning to take the prompt from (HH-RLHF's layout); give the "
                       "prompt's field with --prompt-field");
    for (auto& t : texts) t.erase(0, prompt_text.size());
  }
  for (size_t i = 0; i < fields.size(); ++i)
    if (texts[i].empty())
      throw InputError(where + ": field " + fields[i] + (prompt ? "" : " (after the prompt both texts share)") +
                       " is empty; every completion needs text");
  if (!options.chat_template) {
    r.prompt.text = std::move(prompt_text);
    r.completions = std::move(texts);
    return r;
  }
  const auto& tmpl = *options.chat_template;
  const std::vector<ChatMessage> prompt_messages{{"user", prompt_text}};
  const auto rendered = tmpl.render(prompt_messages, true);
  r.prompt = {rendered.text, rendered.starts_with_bos};
  r.end_of_turn = tmpl.end_of_turn();
  for (auto& t : texts) {
    auto full = prompt_messages;
    full.push_back({"assistant", std::move(t)});
    const auto text = tmpl.render(full, false).text;
    r.completions.push_back(text.substr(r.prompt.text.size()));
  }
  return r;
}

RenderedRow render_conversation(const json* prompt, const std::vector<std::string>& fields,
                                std::vector<std::optional<std::vector<ChatMessage>>> tails, const json& row,
                                const PreferenceDataOptions& options, const std::string& where) {
  if (!options.chat_template)
    throw ConfigError(where +
                      ": conversational data needs a chat template; choose one (chatml, llama-3, gemma, zephyr, "
                      "plain) or use a model whose tokenizer_config.json has a chat_template");
  const auto& tmpl = *options.chat_template;
  // Completion strings are the assistant's reply.
  for (size_t i = 0; i < fields.size(); ++i)
    if (!tails[i]) tails[i] = std::vector<ChatMessage>{{"assistant", row[fields[i]].get<std::string>()}};

  std::vector<ChatMessage> head;
  if (prompt && prompt->is_string()) {
    // UltraFeedback-style rows repeat the prompt inside the completion lists: keep only theirs.
    bool lists_carry_prompt = true;
    for (const auto& t : tails) lists_carry_prompt = lists_carry_prompt && t->front().role != "assistant";
    if (!lists_carry_prompt) head.push_back({"user", prompt->get<std::string>()});
  } else if (prompt) {
    if (!prompt->is_array())
      throw InputError(where + ": field " + options.fields.prompt + " must be a string or a list of messages, got " +
                       prompt->type_name());
    head = *messages_of(*prompt, options.fields.prompt, where);
  }

  std::vector<std::vector<ChatMessage>> full;
  for (const auto& t : tails) {
    full.push_back(head);
    full.back().insert(full.back().end(), t->begin(), t->end());
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& last = full[i].back();
    if (last.role != "assistant")
      throw InputError(where + ": field " + fields[i] + " must end with the assistant's reply, not a \"" + last.role +
                       "\" message");
    if (last.content.empty()) throw InputError(where + ": field " + fields[i] + " has an empty assistant reply");
  }
  const size_t n_prompt = full[0].size() - 1;
  if (n_prompt == 0)
    throw InputError(where + ": no prompt messages before the reply in field " + fields[0] + "; add a \"" +
                     options.fields.prompt + "\" or the user turn");
  for (size_t i = 1; i < fields.size(); ++i)
    if (full[i].size() - 1 != n_prompt || !same(full[0], full[i], n_prompt))
      throw InputError(where + ": fields " + fields[0] + " and " + fields[i] +
                       " differ before their last message; they must share the whole prompt");

  RenderedRow r;
  r.end_of_turn = tmpl.end_of_turn();
  try {
    const std::vector<ChatMessage> prompt_messages(full[0].begin(),
                                                   full[0].begin() + static_cast<std::ptrdiff_t>(n_prompt));
    const auto rendered = tmpl.render(prompt_messages, true);
    r.prompt = {rendered.text, rendered.starts_with_bos};
    for (size_t i = 0; i < fields.size(); ++i) {
      const auto text = tmpl.render(full[i], false).text;
      if (text.compare(0, r.prompt.text.size(), r.prompt.text) != 0)
        throw InputError("the " + std::string(tmpl.name()) +
                         " rendering of the prompt is not a prefix of the rendered " + fields[i] + " conversation");
      r.completions.push_back(text.substr(r.prompt.text.size()));
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  }
  return r;
}

// The prompt and completion texts of one row; `fields` are the completion fields.
RenderedRow render_row(const json& row, const std::vector<std::string>& fields, const PreferenceDataOptions& options,
                       const std::string& where) {
  const auto it = row.find(options.fields.prompt);
  const json* prompt = it == row.end() || it->is_null() ? nullptr : &*it;
  std::vector<std::optional<std::vector<ChatMessage>>> tails;
  bool conversational = prompt && prompt->is_array();
  for (const auto& f : fields) {
    tails.push_back(messages_of(field_of(row, f, where), f, where));
    conversational = conversational || tails.back().has_value();
  }
  RenderedRow r = conversational ? render_conversation(prompt, fields, std::move(tails), row, options, where)
                                 : render_strings(prompt, fields, row, options, where);
  // Cut after the end of the assistant turn: what follows is the template's separator.
  if (!r.end_of_turn.empty())
    for (auto& c : r.completions) {
      const auto pos = c.rfind(r.end_of_turn);
      if (pos != std::string::npos) c.resize(pos + r.end_of_turn.size());
    }
  return r;
}

}  // namespace

std::vector<PreferenceExample> read_preference_data(const std::filesystem::path& path,
                                                    const PreferenceDataOptions& options) {
  std::vector<PreferenceExample> out;
  for_each_row(path, options, [&](const json& row, const std::string& where, int64_t line) {
    auto r = render_row(row, {options.fields.chosen, options.fields.rejected}, options, where);
    out.push_back({std::move(r.prompt), std::move(r.completions[0]), std::move(r.completions[1]),
                   std::move(r.end_of_turn), line});
  });
  return out;
}

std::vector<PreferenceExample> read_sft_data(const std::filesystem::path& path, const PreferenceDataOptions& options) {
  std::vector<PreferenceExample> out;
  for_each_row(path, options, [&](const json& row, const std::string& where, int64_t line) {
    const auto text = row.find(options.fields.text);
    if (text == row.end() || row.contains(options.fields.chosen)) {
      auto r = render_row(row, {options.fields.chosen, options.fields.rejected}, options, where);
      out.push_back({std::move(r.prompt), std::move(r.completions[0]), std::move(r.completions[1]),
                     std::move(r.end_of_turn), line});
      return;
    }
    if (!text->is_string())
      throw InputError(where + ": field " + options.fields.text + " must be a string, got " + text->type_name());
    if (text->get_ref<const std::string&>().empty())
      throw InputError(where + ": field " + options.fields.text + " is empty; a language-modelling row needs text");
    out.push_back({PromptText{}, text->get<std::string>(), text->get<std::string>(), "", line});
  });
  return out;
}

std::vector<KtoExample> read_kto_data(const std::filesystem::path& path, const PreferenceDataOptions& options) {
  std::vector<KtoExample> out;
  for_each_row(path, options, [&](const json& row, const std::string& where, int64_t line) {
    const auto& label = field_of(row, options.fields.label, where);
    if (!label.is_boolean())
      throw InputError(where + ": field " + options.fields.label +
                       " must be true (desirable) or false (undesirable), got " + label.dump());
    auto r = render_row(row, {options.fields.completion}, options, where);
    out.push_back(
        {std::move(r.prompt), std::move(r.completions[0]), label.get<bool>(), std::move(r.end_of_turn), line});
  });
  return out;
}

}  // namespace fpokit::fpo
