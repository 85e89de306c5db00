// The standard pipeline of one record: template + label masking, image decoding and preprocessing.
#include "vr/core/error.h"
#include "vr/data/loader.h"
#include "vr/data/packing.h"
#include "vr/data/template.h"

namespace vr::data {

SamplePreparer make_sample_preparer(const text::Tokenizer& tok, const image::ImageProcessor& proc, image::AspectMode aspect,
                                    const std::string& template_name, int64_t model_max_length) {
  const ConversationTemplate& tpl = conversation_template(template_name);
  TextEncoder enc = TextEncoder::from_tokenizer(tok);
  return [&tpl, enc, proc, aspect, model_max_length](const Sample& s, int64_t index) {
    PreparedSample p;
    p.id = s.id;
    p.index = index;
    p.tokens = tokenize_conversation(s.conversations, s.num_images() > 0, tpl, enc, model_max_length);
    for (const auto& path : s.image_paths) p.pixels.push_back(proc(image::decode_image_file(path), aspect));
    for (const auto& img : s.images) p.pixels.push_back(proc(img, aspect));
    return p;
  };
}

SampleLength make_sample_length(const text::Tokenizer& tok, const std::string& template_name, int64_t model_max_length,
                                int64_t image_tokens) {
  const ConversationTemplate& tpl = conversation_template(template_name);
  TextEncoder enc = TextEncoder::from_tokenizer(tok);
  return [&tpl, enc, model_max_length, image_tokens](const Sample& s, int64_t) {
    // The ids the preparer will produce (same call), so the packed length is the length the row will get.
    const TokenizedSample t = tokenize_conversation(s.conversations, s.num_images() > 0, tpl, enc, model_max_length);
    return merged_length(t.input_ids, image_tokens, model_max_length);
  };
}

CollateOptions collate_options_for(const text::Tokenizer& tok, const std::string& template_name, int64_t model_max_length) {
  TextEncoder enc = TextEncoder::from_tokenizer(tok);
  CollateOptions c;
  c.pad_id = pad_id_for(conversation_template(template_name), enc);
  c.pad_is_eos = enc.eos && *enc.eos == c.pad_id;
  c.model_max_length = model_max_length;
  return c;
}

}  // namespace vr::data
