// The random models' tokenizer: a byte-level BPE (GPT-2 style) whose merges are learnt from a
// short built-in English text, then topped up with synthetic merges until the vocabulary is
// full. Deterministic: ties between equally frequent pairs go to the smaller pair.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/core/json_text.h"
#include "engine/model/random_model.h"

namespace ember {

namespace {

constexpr std::string_view kCorpus =
    "The miner answers the validator with a short and clear reply. A good answer is "
    "helpful, honest and kind, and it comes before the deadline. When the question is hard, "
    "the model thinks about the problem, writes the steps in order, and checks the result. "
    "The engine reads the prompt, turns the text into tokens, and runs the transformer on the "
    "graphics card. Each token is a small piece of a word; the tokenizer joins the most "
    "common pairs of bytes into longer pieces, so that the words of the language take few "
    "tokens. In the morning the children walked to the river and watched the water. They "
    "talked about the birds, the trees and the weather, and then they went home for dinner. "
    "Numbers such as 1, 2, 10, 42 and 2024 appear in the text, and so do questions: what is "
    "the time? where is the station? how many people live in the city? The answer to the "
    "question is in the data, and the data is in the model. We want the model to be fast, "
    "to be correct, and to be different from the others. This is the story of the engine "
    "that could: it started small, it learned to batch the requests, and then it served "
    "thousands of them every second without a single error.";

// GPT-2's reversible map from bytes to printable code points.
std::vector<std::string> byte_symbols() {
  std::vector<int> cp(256, -1);
  auto keep = [&](int lo, int hi) {
    for (int b = lo; b <= hi; ++b) cp[b] = b;
  };
  keep('!', '~');
  keep(0xA1, 0xAC);
  keep(0xAE, 0xFF);
  int next = 256;
  for (int b = 0; b < 256; ++b)
    if (cp[b] < 0) cp[b] = next++;
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    const int c = cp[b];
    std::string s;
    if (c < 0x80) {
      s += char(c);
    } else {  // every code point here is below 0x800: two UTF-8 bytes
      s += char(0xC0 | (c >> 6));
      s += char(0x80 | (c & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// Splits like GPT-2's pattern, simplified to ASCII: an optional space, then a run of letters,
// of digits, or of other non-space characters.
std::vector<std::string> pre_tokenize(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && text[j + 1] != ' ') ++j;
    const unsigned char c = text[j];
    size_t k = j + 1;
    if (is_alpha(c))
      while (k < text.size() && is_alpha(text[k])) ++k;
    else if (is_digit(c))
      while (k < text.size() && is_digit(text[k])) ++k;
    else if (c != ' ')
      while (k < text.size() && text[k] != ' ' && !is_alpha(text[k]) && !is_digit(text[k])) ++k;
    words.emplace_back(text.substr(i, k - i));
    i = k;
  }
  return words;
}

struct Bpe {
  std::vector<std::string> vocab;  // id -> token
  std::vector<std::pair<std::string, std::string>> merges;
};

Bpe build_bpe(int n_tokens) {
  const std::vector<std::string> sym = byte_symbols();
  Bpe bpe;
  bpe.vocab = sym;
  std::unordered_set<std::string> known(sym.begin(), sym.end());

  // Learn merges from the corpus while some pair still occurs twice.
  std::map<std::string, int> word_counts;
  for (const auto& w : pre_tokenize(kCorpus)) ++word_counts[w];
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, n] : word_counts) {
    std::vector<std::string> s;
    for (unsigned char c : w) s.push_back(sym[c]);
    words.emplace_back(std::move(s), n);
  }
  while (int(bpe.vocab.size()) < n_tokens) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [s, n] : words)
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += n;
    const std::pair<std::string, std::string>* best = nullptr;
    int best_n = 1;
    for (const auto& [p, n] : pairs)
      if (n > best_n && !known.count(p.first + p.second)) {
        best = &p;
        best_n = n;
      }
    if (!best) break;
    const auto [a, b] = *best;
    bpe.merges.emplace_back(a, b);
    bpe.vocab.push_back(a + b);
    known.insert(a + b);
    for (auto& [s, n] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(a + b);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
    }
  }

  // Top up: extend existing tokens by one letter, in id order, until the vocabulary is full.
  for (size_t base = 0; int(bpe.vocab.size()) < n_tokens; ++base) {
    const std::string a = bpe.vocab[base];
    for (char l = 'a'; l <= 'z' && int(bpe.vocab.size()) < n_tokens; ++l) {
      const std::string b(1, l);
      if (known.count(a + b)) continue;
      bpe.merges.emplace_back(a, b);
      bpe.vocab.push_back(a + b);
      known.insert(a + b);
    }
  }
  return bpe;
}

std::string added_token_json(int id, const char* content) {
  return fmt::format(
      "    {{\"id\": {}, \"content\": {}, \"single_word\": false, \"lstrip\": false, "
      "\"rstrip\": false, \"normalized\": false, \"special\": true}}",
      id, json::quote(content));
}

std::string tokenizer_json(int vocab) {
  const RandomTokenizerIds ids = random_tokenizer_ids(vocab);
  const Bpe bpe = build_bpe(vocab - 3);
  std::string s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n";
  s += "  \"added_tokens\": [\n";
  s += added_token_json(ids.endoftext, "<|endoftext|>") + ",\n";
  s += added_token_json(ids.im_start, "<|im_start|>") + ",\n";
  s += added_token_json(ids.im_end, "<|im_end|>") + "\n  ],\n";
  s += "  \"normalizer\": null,\n";
  s += "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
       "\"trim_offsets\": true, \"use_regex\": true},\n";
  s += "  \"post_processor\": null,\n";
  s += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
       "\"trim_offsets\": true, \"use_regex\": true},\n";
  s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
       "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
       "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
       "    \"vocab\": {";
  for (size_t i = 0; i < bpe.vocab.size(); ++i) {
    s += i ? ",\n      " : "\n      ";
    s += json::quote(bpe.vocab[i]);
    s += ": ";
    s += std::to_string(i);
  }
  s += "\n    },\n    \"merges\": [";
  for (size_t i = 0; i < bpe.merges.size(); ++i) {
    s += i ? ",\n      [" : "\n      [";
    s += json::quote(bpe.merges[i].first);
    s += ", ";
    s += json::quote(bpe.merges[i].second);
    s += "]";
  }
  s += bpe.merges.empty() ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n";
  return s;
}

std::string tokenizer_config_json(int vocab) {
  const RandomTokenizerIds ids = random_tokenizer_ids(vocab);
  std::string decoder;
  for (auto [id, content] : {std::pair{ids.endoftext, "<|endoftext|>"},
                             std::pair{ids.im_start, "<|im_start|>"},
                             std::pair{ids.im_end, "<|im_end|>"}}) {
    if (!decoder.empty()) decoder += ",\n";
    decoder += fmt::format(
        "    \"{}\": {{\"content\": {}, \"lstrip\": false, \"normalized\": false, "
        "\"rstrip\": false, \"single_word\": false, \"special\": true}}",
        id, json::quote(content));
  }
  const char* chat_template =
      "{%- for message in messages %}"
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{%- endfor %}"
      "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
  return fmt::format(
      "{{\n  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n"
      "  \"add_prefix_space\": false,\n  \"added_tokens_decoder\": {{\n{}\n  }},\n"
      "  \"additional_special_tokens\": [\"<|im_start|>\", \"<|im_end|>\"],\n"
      "  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|im_end|>\",\n"
      "  \"pad_token\": \"<|endoftext|>\",\n  \"unk_token\": null,\n"
      "  \"clean_up_tokenization_spaces\": false,\n  \"model_max_length\": 4096,\n"
      "  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"chat_template\": {}\n}}\n",
      decoder, json::quote(chat_template));
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) fail("{}: write failed", path.string());
}

}  // namespace

RandomTokenizerIds random_tokenizer_ids(int vocab) {
  if (vocab < kRandomTokenizerMinVocab)
    fail("tokenizer: vocab {} is below the minimum {} (256 bytes + 3 special tokens)", vocab,
         kRandomTokenizerMinVocab);
  return {vocab - 3, vocab - 2, vocab - 1};
}

void write_random_tokenizer(int vocab, const std::string& dir) {
  namespace fs = std::filesystem;
  write_text(fs::path(dir) / "tokenizer.json", tokenizer_json(vocab));
  write_text(fs::path(dir) / "tokenizer_config.json", tokenizer_config_json(vocab));
}

}  // namespace ember
