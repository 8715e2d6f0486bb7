#include "engine/text/pretokenizer.h"

namespace ember::text {
namespace {

struct Span {
  size_t begin, end;
  bool match;
};

// The piece cut into alternating non-match / match spans covering it completely.
void find_spans(const PreTokenizerStep& st, std::string_view s, std::vector<Span>& spans) {
  spans.clear();
  size_t pos = 0, from = 0;
  while (from <= s.size()) {
    size_t b, e;
    if (st.regex) {
      std::tie(b, e) = st.regex->find(s, from);
    } else {
      b = st.literal.empty() ? std::string_view::npos : s.find(st.literal, from);
      e = b == std::string_view::npos ? b : b + st.literal.size();
    }
    if (b == std::string_view::npos) break;
    if (e == b) {  // empty matches split nothing; step over one character
      from = b + 1;
      while (from < s.size() && (static_cast<uint8_t>(s[from]) & 0xC0) == 0x80) ++from;
      continue;
    }
    if (b > pos) spans.push_back({pos, b, false});
    spans.push_back({b, e, true});
    pos = from = e;
  }
  if (pos < s.size()) spans.push_back({pos, s.size(), false});
  if (st.invert)
    for (Span& sp : spans) sp.match = !sp.match;
}

void split_piece(const PreTokenizerStep& st, Piece p, std::vector<Piece>& out,
                 std::vector<Span>& spans) {
  find_spans(st, p.text, spans);
  const auto emit = [&](size_t b, size_t e) {
    if (e > b) out.push_back({p.text.substr(b, e - b), p.at_start && b == 0});
  };
  switch (st.behavior) {
    case SplitBehavior::Isolated:
      for (const Span& sp : spans) emit(sp.begin, sp.end);
      break;
    case SplitBehavior::Removed:
      for (const Span& sp : spans)
        if (!sp.match) emit(sp.begin, sp.end);
      break;
    case SplitBehavior::MergedWithPrevious: {
      // A match joins the piece before it when that piece is not itself a match.
      std::vector<std::pair<size_t, size_t>> acc;
      bool prev_match = false;
      for (const Span& sp : spans) {
        if (sp.match && !prev_match && !acc.empty()) acc.back().second = sp.end;
        else acc.emplace_back(sp.begin, sp.end);
        prev_match = sp.match;
      }
      for (auto [b, e] : acc) emit(b, e);
      break;
    }
    case SplitBehavior::MergedWithNext: {
      // A match joins the piece after it when that piece is not itself a match.
      std::vector<std::pair<size_t, size_t>> acc;
      bool next_match = false;
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& sp = spans[i];
        if (sp.match && !next_match && !acc.empty()) acc.back().first = sp.begin;
        else acc.emplace_back(sp.begin, sp.end);
        next_match = sp.match;
      }
      for (size_t i = acc.size(); i-- > 0;) emit(acc[i].first, acc[i].second);
      break;
    }
    case SplitBehavior::Contiguous: {
      size_t i = 0;
      while (i < spans.size()) {
        size_t j = i;
        while (j + 1 < spans.size() && spans[j + 1].match == spans[i].match) ++j;
        emit(spans[i].begin, spans[j].end);
        i = j + 1;
      }
      break;
    }
  }
}

}  // namespace

void PreTokenizer::run(Piece segment, std::vector<Piece>& out,
                       std::deque<std::string>& arena) const {
  if (steps_.empty()) {
    if (!segment.text.empty()) out.push_back(segment);
    return;
  }
  thread_local std::vector<Span> spans;
  std::vector<Piece> cur{segment}, next;
  for (const PreTokenizerStep& st : steps_) {
    next.clear();
    for (Piece p : cur) {
      switch (st.kind) {
        case PreTokenizerStep::Kind::Split:
          split_piece(st, p, next, spans);
          break;
        case PreTokenizerStep::Kind::ByteLevel:
          if (st.add_prefix_space && !p.text.empty() && p.text.front() != ' ') {
            arena.push_back(" ");
            arena.back().append(p.text);
            p.text = arena.back();
          }
          if (st.regex) split_piece(st, p, next, spans);
          else if (!p.text.empty()) next.push_back(p);
          break;
        case PreTokenizerStep::Kind::Metaspace: {
          std::string& s = arena.emplace_back();
          const bool prepend =
              st.prepend == PreTokenizerStep::Prepend::Always ||
              (st.prepend == PreTokenizerStep::Prepend::First && p.at_start);
          if (prepend && !p.text.starts_with(' ') && !p.text.starts_with(st.replacement))
            s = st.replacement;
          for (char c : p.text) {
            if (c == ' ') s += st.replacement;
            else s.push_back(c);
          }
          if (!st.split) {
            if (!s.empty()) next.push_back({s, p.at_start});
            break;
          }
          // MergedWithNext on the replacement: each word keeps its leading marker.
          std::string_view v = s;
          size_t start = 0;
          for (size_t at = v.find(st.replacement, 1); at != std::string_view::npos;
               at = v.find(st.replacement, at + st.replacement.size())) {
            if (at > start) next.push_back({v.substr(start, at - start), p.at_start && start == 0});
            start = at;
          }
          if (start < v.size()) next.push_back({v.substr(start), p.at_start && start == 0});
          break;
        }
      }
    }
    cur.swap(next);
  }
  out.insert(out.end(), cur.begin(), cur.end());
}

}  // namespace ember::text
