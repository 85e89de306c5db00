// A tiny deterministic "tokenizer" for testing masking and loader mechanics without a real vocabulary.
// Pieces: the special strings "</s>" / "<|end_of_text|>" (ids 2 / 3), and otherwise a word with its leading
// space (" cat"), or a run of trailing spaces. BOS = 1. Like the real BPE tokenizers it tokenises the dangling
// space of "ASSISTANT: " on its own while in the full text that space joins the answer's first word.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vr/data/text_encoder.h"

namespace vr::test {

class FakeVocab {
 public:
  int64_t id(const std::string& piece) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ids_.find(piece);
    if (it != ids_.end()) return it->second;
    int64_t next = 100 + static_cast<int64_t>(ids_.size());
    ids_[piece] = next;
    pieces_[next] = piece;
    return next;
  }
  std::string piece(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (id == 1) return "<s>";
    if (id == 2) return "</s>";
    if (id == 3) return "<|end_of_text|>";
    auto it = pieces_.find(id);
    return it == pieces_.end() ? "?" : it->second;
  }
  std::vector<int64_t> encode(std::string_view text, bool bos) {
    std::vector<int64_t> ids;
    if (bos) ids.push_back(1);
    size_t k = 0;
    while (k < text.size()) {
      if (text.substr(k, 4) == "</s>") { ids.push_back(2); k += 4; continue; }
      if (text.substr(k, 15) == "<|end_of_text|>") { ids.push_back(3); k += 15; continue; }
      size_t start = k;
      while (k < text.size() && text[k] == ' ') ++k;
      while (k < text.size() && text[k] != ' ' && text.substr(k, 4) != "</s>" && text.substr(k, 15) != "<|end_of_text|>") ++k;
      ids.push_back(id(std::string(text.substr(start, k - start))));
    }
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) {
    std::string out;
    for (int64_t id : ids) out += piece(id);
    return out;
  }
  // eos 2 ("</s>", Vicuna) or 3 ("<|end_of_text|>", Llama-3).
  vr::data::TextEncoder encoder(bool with_bos = true, int64_t eos = 2, std::optional<int64_t> pad = std::nullopt) {
    vr::data::TextEncoder enc;
    if (with_bos) enc.bos = 1;
    enc.eos = eos;
    enc.pad = pad;
    enc.unk = 0;
    enc.encode = [this, with_bos](std::string_view t) { return encode(t, with_bos); };
    return enc;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> ids_;
  std::map<int64_t, std::string> pieces_;
};

}  // namespace vr::test
