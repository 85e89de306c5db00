// Tokenizer: the encode / decode pipelines over the loaded state (see tokenizer_state.h).
#include "vr/text/tokenizer.h"

#include "text/tokenizer_state.h"
#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text {

using namespace tokenizer_detail;

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerState> state) : state_(std::move(state)) {}

Tokenizer Tokenizer::from_path(const std::string& path) { return Tokenizer(load_tokenizer(path)); }

namespace {

// One stretch of text between added tokens: normalize, match normalized added tokens, pre-tokenize, BPE.
void encode_text(const TokenizerState& s, std::string_view text, bool at_text_start, std::vector<int64_t>& out) {
  Piece piece{std::string(text), at_text_start};
  if (s.normalizer) s.normalizer->normalize(piece);
  std::vector<Piece> pieces;
  auto run = [&](Piece p) {
    pieces.clear();
    pieces.push_back(std::move(p));
    if (s.pre_tokenizer) s.pre_tokenizer->pre_tokenize(pieces);
    for (const Piece& w : pieces) s.model->tokenize(w.text, out);
  };
  if (!s.added.any(true)) {
    run(std::move(piece));
    return;
  }
  std::vector<Segment> segments;
  s.added.split(piece.text, true, segments);
  for (const Segment& seg : segments) {
    if (seg.id >= 0) out.push_back(seg.id);
    else run(Piece{piece.text.substr(seg.begin, seg.end - seg.begin), piece.at_text_start && seg.begin == 0});
  }
}

}  // namespace

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const TokenizerState& s = *state_;
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens) out.insert(out.end(), s.post.prefix.begin(), s.post.prefix.end());
  std::vector<Segment> segments;
  s.added.split(text, false, segments);
  for (const Segment& seg : segments) {
    if (seg.id < 0) {
      encode_text(s, text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0, out);
      continue;
    }
    // Non-legacy SentencePiece: transformers prepends "▁" to the whole text, then drops it again only when
    // a *special* token follows; before any other added token it stays as its own token.
    if (seg.begin == 0 && !s.sentencepiece_prefix.empty() && !s.added.by_id(seg.id)->special)
      s.model->tokenize(s.sentencepiece_prefix, out);
    out.push_back(seg.id);
  }
  if (add_special_tokens) out.insert(out.end(), s.post.suffix.begin(), s.post.suffix.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const TokenizerState& s = *state_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const AddedToken* a = s.added.by_id(ids[i])) {
      if (!(skip_special_tokens && a->special)) tokens.push_back(a->content);
      continue;
    }
    const std::string* t = s.model->id_to_token(ids[i]);
    VR_CHECK(t, "tokenizer decode: id {} at position {} is not in the vocabulary of '{}' (size {})", ids[i], i,
             s.source, s.vocab_size);
    tokens.push_back(*t);
  }
  if (!s.decoder) {  // `tokenizers` joins with spaces when there is no decoder
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  s.decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* a = state_->added.by_content(token)) return a->id;
  int32_t id = state_->model->token_to_id(token);
  return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* a = state_->added.by_id(id)) return a->content;
  const std::string* t = state_->model->id_to_token(id);
  VR_CHECK(t, "tokenizer: id {} is not in the vocabulary of '{}'", id, state_->source);
  return *t;
}

std::vector<std::string> Tokenizer::tokens(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(id_to_token(id));
  return out;
}

bool Tokenizer::is_special(int64_t id) const {
  const AddedToken* a = state_->added.by_id(id);
  return a && a->special;
}

int64_t Tokenizer::vocab_size() const { return state_->vocab_size; }
std::optional<int64_t> Tokenizer::bos_id() const { return state_->bos; }
std::optional<int64_t> Tokenizer::eos_id() const { return state_->eos; }
std::optional<int64_t> Tokenizer::pad_id() const { return state_->pad; }
std::optional<int64_t> Tokenizer::unk_id() const { return state_->unk; }
bool Tokenizer::adds_bos() const { return state_->bos && !state_->post.prefix.empty() && state_->post.prefix.front() == *state_->bos; }
bool Tokenizer::adds_eos() const { return state_->eos && !state_->post.suffix.empty() && state_->post.suffix.back() == *state_->eos; }
bool Tokenizer::legacy() const { return state_->legacy; }
bool Tokenizer::sentencepiece_style() const { return state_->sentencepiece_style; }

}  // namespace vr::text
