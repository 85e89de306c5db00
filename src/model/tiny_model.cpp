#include "vr/model/tiny_model.h"

#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include <torch/torch.h>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/model/lvlm.h"
#include "vr/model/model_configs.h"

namespace vr::model {

namespace {

// GPT-2 byte-level alphabet: printable bytes map to themselves, the rest to U+0100.. in byte order.
std::string byte_char(int b) {
  static std::vector<int> code_point = [] {
    std::vector<int> cp(256, -1);
    int next = 256;
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
      cp[i] = printable ? i : next++;
    }
    return cp;
  }();
  int c = code_point[b];
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

std::string to_byte_level(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) out += byte_char(ch);
  return out;
}

// Words the tiny tokenizer learns whole: synthetic-shapes answers and questions, and the chat templates.
const char* kCorpus =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. A curious human the human's USER ASSISTANT "
    "What shape is in the image? What colour is the shape? What colour are the shapes? How many shapes are "
    "there? Is the shape on the left or on the right? circle circles square squares triangle triangles red "
    "green blue yellow one two three left right Describe this picture";

std::vector<std::string> special_tokens(const std::string& family) {
  if (family == "bunny") return {"<|begin_of_text|>", "<|end_of_text|>", "<image>"};
  return {"<unk>", "<s>", "</s>", "<image>", "<pad>"};
}

std::string bos_token(const std::string& family) { return family == "bunny" ? "<|begin_of_text|>" : "<s>"; }
std::string eos_token(const std::string& family) { return family == "bunny" ? "<|end_of_text|>" : "</s>"; }

void check_family(const std::string& family) {
  VR_CHECK(family == "llava" || family == "bunny", "make-tiny: unknown family '{}' (llava or bunny)", family);
}

}  // namespace

nlohmann::json tiny_tokenizer_json(const std::string& family) {
  check_family(family);
  nlohmann::json vocab = nlohmann::json::object();
  std::vector<std::string> id_to_token;
  auto add = [&](const std::string& tok) {
    if (vocab.contains(tok)) return;
    vocab[tok] = static_cast<int64_t>(id_to_token.size());
    id_to_token.push_back(tok);
  };
  for (int b = 0; b < 256; ++b) add(byte_char(b));
  // Merges that build each corpus word (with and without its leading space) left to right.
  std::vector<std::string> merges;
  std::set<std::string> seen;
  std::istringstream words(kCorpus);
  for (std::string w; words >> w;) {
    while (!w.empty() && std::ispunct(static_cast<unsigned char>(w.back()))) w.pop_back();
    for (const std::string& form : {w, " " + w}) {
      std::string bl = to_byte_level(form);
      // split into byte-level characters (1 or 2 UTF-8 bytes each)
      std::vector<std::string> chars;
      for (size_t i = 0; i < bl.size();) {
        size_t n = (static_cast<unsigned char>(bl[i]) >= 0xC0) ? 2 : 1;
        chars.push_back(bl.substr(i, n));
        i += n;
      }
      std::string prefix = chars.empty() ? "" : chars[0];
      for (size_t i = 1; i < chars.size(); ++i) {
        std::string merged = prefix + chars[i];
        if (seen.insert(prefix + " " + chars[i]).second && !vocab.contains(merged)) {
          merges.push_back(prefix + " " + chars[i]);
          add(merged);
        }
        prefix = merged;
      }
    }
  }
  nlohmann::json added = nlohmann::json::array();
  for (const auto& s : special_tokens(family)) {
    int64_t id = static_cast<int64_t>(id_to_token.size());
    add(s);
    added.push_back({{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  }
  const std::string bos = bos_token(family);
  const int64_t bos_id = vocab.at(bos).get<int64_t>();
  nlohmann::json split = {
      {"type", "Split"},
      {"pattern",
       {{"Regex",
         "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
      {"behavior", "Isolated"},
      {"invert", false}};
  nlohmann::json model_vocab = nlohmann::json::object();
  for (size_t i = 0; i < id_to_token.size(); ++i)
    if (i < id_to_token.size() - special_tokens(family).size()) model_vocab[id_to_token[i]] = i;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {split,
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{bos, {{"id", bos}, {"ids", {bos_id}}, {"tokens", {bos}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", model_vocab},
        {"merges", merges}}}};
}

nlohmann::json tiny_tokenizer_config(const std::string& family) {
  check_family(family);
  nlohmann::json c = {{"bos_token", bos_token(family)},
                      {"eos_token", eos_token(family)},
                      {"add_bos_token", true},
                      {"add_eos_token", false},
                      {"model_max_length", 2048},
                      {"padding_side", "right"},
                      {"clean_up_tokenization_spaces", false},
                      {"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (family == "llava") {
    c["unk_token"] = "<unk>";
    c["pad_token"] = "<unk>";  // LLaVA pads with <unk> (SPEC §3.1)
  } else {
    c["pad_token"] = "<|end_of_text|>";  // Bunny: pad = eos
  }
  return c;
}

nlohmann::json tiny_preprocessor_config(const std::string& family, int64_t s) {
  check_family(family);
  if (family == "bunny")
    return {{"do_convert_rgb", nullptr},      {"do_normalize", true},
            {"do_rescale", true},             {"do_resize", true},
            {"image_mean", {0.5, 0.5, 0.5}},  {"image_processor_type", "SiglipImageProcessor"},
            {"image_std", {0.5, 0.5, 0.5}},   {"resample", 3},
            {"rescale_factor", 1.0 / 255.0},  {"size", {{"height", s}, {"width", s}}}};
  return {{"crop_size", {{"height", s}, {"width", s}}},
          {"do_center_crop", true},
          {"do_convert_rgb", true},
          {"do_normalize", true},
          {"do_rescale", true},
          {"do_resize", true},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
          {"image_processor_type", "CLIPImageProcessor"},
          {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"resample", 3},
          {"rescale_factor", 1.0 / 255.0},
          {"size", {{"shortest_edge", s}}}};
}

model::LvlmConfig tiny_model_config(const TinyModelOptions& opt) {
  VR_CHECK(opt.dtype == "fp32" || opt.dtype == "bf16", "make-tiny: --dtype must be fp32 or bf16, got '{}'", opt.dtype);
  if (!opt.shapes.empty()) {
    // A named configuration at real width (e.g. the GPU acceptance run's Bunny-8B-wide model with a few layers):
    // every width from the configuration; the tokenizer is the family's tiny one, so the special-token ids come
    // from it (all below the configuration's vocabulary) and <image> is an in-vocabulary id as llava-hf expects.
    model::LvlmConfig c = model::named_lvlm_config(opt.shapes);
    const std::string family = c.vision.is_clip() ? "llava" : "bunny";
    VR_CHECK(opt.num_layers >= 0 && opt.num_layers <= c.text.num_hidden_layers,
             "make-tiny: --layers must be 0 (all) to {} for --shapes {}, got {}", c.text.num_hidden_layers, opt.shapes,
             opt.num_layers);
    if (opt.num_layers > 0) c.text.num_hidden_layers = opt.num_layers;
    nlohmann::json tok = tiny_tokenizer_json(family);
    auto id_of = [&](const std::string& s) {
      for (const auto& a : tok["added_tokens"])
        if (a["content"] == s) return a["id"].get<int64_t>();
      VR_FAIL("make-tiny: the tiny {} tokenizer has no '{}'", family, s);
    };
    const bool bunny = family == "bunny";
    c.text.bos_token_id = id_of(bunny ? "<|begin_of_text|>" : "<s>");
    c.text.eos_token_id = id_of(bunny ? "<|end_of_text|>" : "</s>");
    c.text.pad_token_id = id_of(bunny ? "<|end_of_text|>" : "<unk>");
    c.pad_token_id = c.text.pad_token_id;
    c.image_token_index = id_of("<image>");
    c.vision_tower_name.clear();  // random weights: no hub tower to name
    return c;
  }
  check_family(opt.family);
  const bool bunny = opt.family == "bunny";
  nlohmann::json tok = tiny_tokenizer_json(opt.family);
  const int64_t vocab = static_cast<int64_t>(tok["model"]["vocab"].size() + tok["added_tokens"].size());
  int64_t image_token = -1, pad = -1;
  for (const auto& a : tok["added_tokens"]) {
    if (a["content"] == "<image>") image_token = a["id"].get<int64_t>();
    if (a["content"] == (bunny ? "<|end_of_text|>" : "<unk>")) pad = a["id"].get<int64_t>();
  }
  VR_CHECK(opt.num_layers >= 1, "make-tiny: --layers must be >= 1, got {}", opt.num_layers);
  VR_CHECK(opt.num_heads >= 2 && opt.num_heads % 2 == 0, "make-tiny: --heads must be an even number >= 2, got {}",
           opt.num_heads);
  VR_CHECK(opt.hidden_size > 0 && opt.hidden_size % opt.num_heads == 0 && (opt.hidden_size / opt.num_heads) % 2 == 0,
           "make-tiny: --hidden {} must be a positive multiple of 2 x heads ({}) (RoPE needs an even head size)",
           opt.hidden_size, opt.num_heads);
  VR_CHECK(opt.intermediate_size >= 0, "make-tiny: --intermediate must be >= 0, got {}", opt.intermediate_size);
  VR_CHECK(opt.image_size >= 14 && opt.image_size % 14 == 0,
           "make-tiny: --image-size must be a positive multiple of the patch size 14, got {}", opt.image_size);
  model::LvlmConfig c;
  c.text = model::llama_shape(vocab, opt.hidden_size,
                              opt.intermediate_size > 0 ? opt.intermediate_size : opt.hidden_size * 2, opt.num_layers,
                              opt.num_heads, bunny ? opt.num_heads / 2 : opt.num_heads);
  c.text.max_position_embeddings = 2048;
  c.text.rms_norm_eps = 1e-5;
  c.text.rope_theta = bunny ? 500000.0 : 10000.0;
  auto id_of = [&](const std::string& s) {
    for (const auto& a : tok["added_tokens"])
      if (a["content"] == s) return a["id"].get<int64_t>();
    return int64_t{-1};
  };
  c.text.bos_token_id = id_of(bunny ? "<|begin_of_text|>" : "<s>");
  c.text.eos_token_id = id_of(bunny ? "<|end_of_text|>" : "</s>");
  c.text.pad_token_id = pad;
  c.vision = model::vision_shape(bunny ? model::VisionConfig::siglip_defaults() : model::VisionConfig::clip_defaults(),
                                 32, 64, 3, 2, opt.image_size, 14);
  c.vision.projection_dim = 32;
  c.image_token_index = image_token;
  c.pad_token_id = pad;
  // llava-hf "default" drops CLS for CLIP; SigLIP has none ("full").
  c.vision_feature_select = bunny ? "cls_patch" : "patch";

  return c;
}

void make_tiny_model(const std::string& dir, const TinyModelOptions& opt) {
  const model::LvlmConfig c = tiny_model_config(opt);
  const std::string family = opt.shapes.empty() ? opt.family : (c.vision.is_clip() ? "llava" : "bunny");
  torch::manual_seed(static_cast<uint64_t>(opt.seed));
  model::Lvlm m(c);
  StateDict tensors;
  {
    torch::NoGradGuard no_grad;
    for (auto& kv : m->named_parameters()) {
      at::Tensor p = kv.value();
      const std::string& name = kv.key();
      bool is_norm = name.find("norm") != std::string::npos;
      if (p.dim() >= 2) {
        double fan_in = static_cast<double>(p.numel() / p.size(0));
        p.normal_(0.0, 1.0 / std::sqrt(fan_in));
      } else if (is_norm && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
        p.fill_(1.0);
      } else if (name.find("class_embedding") != std::string::npos || name.find("probe") != std::string::npos) {
        p.normal_(0.0, 1.0);
      } else {
        p.zero_();
      }
      tensors[name] = opt.dtype == "bf16" ? p.detach().to(torch::kBFloat16).contiguous() : p.detach().contiguous();
    }
  }
  nlohmann::json config = c.to_json();
  config["vrtrain_tiny"] = {{"family", family}, {"seed", opt.seed}};
  if (!opt.shapes.empty()) config["vrtrain_tiny"]["shapes"] = opt.shapes;
  if (opt.dtype == "bf16") config["torch_dtype"] = "bfloat16";
  save_checkpoint(dir, config, tensors, 5ull << 30,
                  {{"tokenizer.json", tiny_tokenizer_json(family)},
                   {"tokenizer_config.json", tiny_tokenizer_config(family)},
                   {"preprocessor_config.json", tiny_preprocessor_config(family, c.vision.image_size)}});
}

}  // namespace vr::model
