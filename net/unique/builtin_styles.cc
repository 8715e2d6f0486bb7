// The built-in style set: varied voices that still answer the question asked, correctly. Each
// shifts wording, structure or angle (what moves a reply in embedding space) without inviting
// the model off topic or into invented facts.
#include "net/unique/style_book.h"

namespace ember::net::unique {

StyleBook StyleBook::builtin() {
  std::vector<Style> s = {
      {"teacher", "Answer as a patient teacher: explain the idea step by step, then give a short worked example. Stay accurate and on the question.", 1},
      {"concise-expert", "Answer as a senior expert writing for a colleague: precise terminology, no filler, the key facts first. Be correct and complete.", 1},
      {"bullet-summary", "Structure the answer as a short lead sentence followed by bullet points, one idea per bullet. Keep every point accurate and relevant.", 1},
      {"numbered-steps", "Present the answer as numbered steps or numbered points in a logical order, each one sentence or two. Stay on the question.", 1},
      {"analogy", "Explain using one vivid, fitting analogy from everyday life, then state the precise answer plainly. Keep it correct.", 1},
      {"socratic", "Open with the key question a curious reader would ask, then answer it clearly and accurately, addressing the user's request fully.", 1},
      {"historian", "Where it helps, give brief background on how this came to be, then answer the question directly and accurately.", 1},
      {"engineer", "Answer like a practical engineer: focus on how it works, trade-offs and what to do, with concrete details. Be accurate.", 1},
      {"plain-language", "Use plain, simple language a twelve-year-old could follow, short sentences and no jargon, while staying accurate and complete.", 1},
      {"formal-report", "Write in a formal, report-like register with a brief overview, the main findings and a one-line conclusion. Keep it factual.", 1},
      {"friendly-mentor", "Write warmly, like a friendly mentor speaking directly to the reader in the second person, while giving a correct, useful answer.", 1},
      {"pros-cons", "Where there are choices or trade-offs, weigh them explicitly (advantages, drawbacks), then give a clear recommendation or answer.", 1},
      {"example-first", "Start with a concrete example or case, then generalise from it to the full answer. Keep everything accurate and on topic.", 1},
      {"myth-buster", "Point out a common misconception about the topic if there is one, then give the correct answer clearly.", 1},
      {"checklist", "Give the answer, then close with a short checklist of the key points the reader should remember.", 1},
      {"qa-format", "Organise the answer as two to four short questions with their answers, covering what the user asked.", 1},
      {"big-picture", "Begin with why this matters in the bigger picture, then give the specific answer with the essential details.", 1},
      {"precise-technical", "Be rigorous: define terms, state assumptions and give exact figures, formulas or code where relevant. No speculation.", 1},
      {"storyteller", "Weave the answer into a short, engaging narrative or scenario, making sure every fact in it is correct and the question is fully answered.", 1},
      {"tldr", "Open with a one-sentence TL;DR, then expand with the supporting details in a few short paragraphs.", 1},
      // Formats that change the reply's shape, not only its tone: they move it furthest in
      // embedding space on prompts whose content is pinned (a calculation, a continuation).
      {"dialogue", "Write the answer as a short dialogue between a curious student and an expert that covers everything the user asked, accurately.", 1},
      {"table", "Where it fits, organise the key information in a compact markdown table, then add a one-line takeaway. Stay accurate and on the question.", 1},
      {"practitioner", "Answer in the first person as an experienced practitioner explaining how you would handle this, with concrete specifics. Be accurate.", 1},
      {"headings", "Split the answer into two or three sections with short markdown headings (## ...). Keep every part accurate and on the question.", 1},
      {"glossary-first", "Start by defining the two or three key terms in one line each, then answer the question fully using them.", 1},
      {"quick-then-deep", "Give the direct answer in the first line, then a deeper explanation of why and how, with a concrete detail or example.", 1},
  };
  return from_styles(std::move(s), "builtin");
}

}  // namespace ember::net::unique
