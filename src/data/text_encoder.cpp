#include "vr/data/text_encoder.h"

#include "vr/core/error.h"
#include "vr/data/conversation.h"

namespace vr::data {

std::vector<int64_t> tokenizer_image_token(const std::string& prompt, const TextEncoder& enc) {
  VR_CHECK(enc.encode, "tokenizer_image_token: the text encoder has no encode function");
  // prompt.split("<image>"): n placeholders give n + 1 chunks (possibly empty).
  std::vector<std::vector<int64_t>> chunks;
  const std::string token = kImageToken;
  size_t begin = 0;
  while (true) {
    size_t at = prompt.find(token, begin);
    chunks.push_back(enc.encode(std::string_view(prompt).substr(begin, at == std::string::npos ? std::string::npos
                                                                                                 : at - begin)));
    if (at == std::string::npos) break;
    begin = at + token.size();
  }
  std::vector<int64_t> ids;
  size_t offset = 0;
  if (!chunks[0].empty() && enc.bos && chunks[0][0] == *enc.bos) {
    offset = 1;
    ids.push_back(chunks[0][0]);
  }
  // Reference: chunks interleaved with separators [-200] * (offset + 1), then `offset` ids dropped from the
  // front of every piece, so each separator contributes exactly one -200.
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (c > 0) ids.push_back(kImageTokenIndex);
    for (size_t k = offset; k < chunks[c].size(); ++k) ids.push_back(chunks[c][k]);
  }
  return ids;
}

}  // namespace vr::data
