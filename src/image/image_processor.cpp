// CLIPImageProcessor / SiglipImageProcessor (transformers v4.44) on decoded RGB images.
//   CLIP:   resize the short side to S, long side int(S * long / short) (truncated); center crop
//           top = (h - ch) // 2, left = (w - cw) // 2; rescale; normalize.
//   SigLIP: resize to exactly H x W (aspect ratio not kept); rescale; normalize. No crop.
// Rescale/normalize are exact per uint8 level: x = float32(double(v) * rescale_factor), then
// (x - float32(mean)) / float32(std) in float32, so a 256-entry table per channel gives the same bits.
#include "vr/image/image_processor.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::image {
namespace {

using json = nlohmann::json;

constexpr std::array<double, 3> kClipMean = {0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kClipStd = {0.26862954, 0.26130258, 0.27577711};

// HF's center_crop: crop when the image is large enough, otherwise zero-pad around it first. Per axis:
// orig >= crop: source rows [(orig - crop) // 2, + crop); orig < crop: the whole image at ceil((crop-orig)/2).
Image center_crop_padded(const Image& img, int crop_h, int crop_w) {
  auto axis = [](int orig, int crop, int* src, int* dst, int* len) {
    if (orig >= crop) {
      *src = (orig - crop) / 2, *dst = 0, *len = crop;
    } else {
      *src = 0, *dst = (crop - orig + 1) / 2, *len = orig;
    }
  };
  int sy, dy, ny, sx, dx, nx;
  axis(img.height, crop_h, &sy, &dy, &ny);
  axis(img.width, crop_w, &sx, &dx, &nx);
  Image out;
  out.width = crop_w;
  out.height = crop_h;
  out.pixels.assign(static_cast<size_t>(crop_w) * crop_h * 3, 0);
  for (int y = 0; y < ny; ++y)
    std::memcpy(out.row(dy + y) + static_cast<size_t>(dx) * 3, img.row(sy + y) + static_cast<size_t>(sx) * 3,
                static_cast<size_t>(nx) * 3);
  return out;
}

bool get_bool(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  VR_CHECK(it->is_boolean(), "'{}' must be true or false", key);
  return it->get<bool>();
}

std::array<double, 3> get_triple(const json& j, const char* key, std::array<double, 3> dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (it->is_number()) return {it->get<double>(), it->get<double>(), it->get<double>()};
  VR_CHECK(it->is_array() && it->size() == 3, "'{}' must be a list of 3 numbers (R, G, B)", key);
  std::array<double, 3> v{};
  for (int c = 0; c < 3; ++c) {
    VR_CHECK((*it)[c].is_number(), "'{}' must be a list of 3 numbers (R, G, B)", key);
    v[c] = (*it)[c].get<double>();
  }
  return v;
}

int positive_int(const json& v, const std::string& what) {
  VR_CHECK(v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() <= 65536,
           "'{}' must be a positive integer, got {}", what, v.dump());
  return v.get<int>();
}

}  // namespace

AspectMode parse_aspect_mode(const std::string& s) {
  if (s == "square") return AspectMode::Square;
  if (s == "pad") return AspectMode::Pad;
  VR_FAIL("unknown image aspect mode '{}' (expected 'pad' = LLaVA expand2square, or 'square')", s);
}

const char* aspect_mode_name(AspectMode m) { return m == AspectMode::Pad ? "pad" : "square"; }

ImageProcessor ImageProcessor::clip(int size) {
  VR_CHECK(size > 0, "CLIP image size must be positive, got {}", size);
  ImageProcessor p;
  p.kind_ = Kind::Clip;
  p.shortest_edge_ = size;
  p.do_center_crop_ = true;
  p.crop_height_ = p.crop_width_ = size;
  p.mean_ = kClipMean;
  p.std_ = kClipStd;
  p.build_lut();
  return p;
}

ImageProcessor ImageProcessor::siglip(int size) {
  VR_CHECK(size > 0, "SigLIP image size must be positive, got {}", size);
  ImageProcessor p;
  p.kind_ = Kind::Siglip;
  p.resize_height_ = p.resize_width_ = size;
  p.mean_ = {0.5, 0.5, 0.5};
  p.std_ = {0.5, 0.5, 0.5};
  p.build_lut();
  return p;
}

ImageProcessor ImageProcessor::from_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = fs::is_directory(path) ? (fs::path(path) / "preprocessor_config.json").string() : path;
  std::ifstream f(file);
  VR_CHECK(f, "{}: cannot open image processor config: {}", file, std::strerror(errno));
  try {
    json j = json::parse(f);
    VR_CHECK(j.is_object(), "expected a JSON object");
    std::string type = j.value("image_processor_type", std::string());
    if (type.empty()) type = j.value("feature_extractor_type", std::string());
    ImageProcessor p;
    if (type == "CLIPImageProcessor" || type == "CLIPFeatureExtractor") {
      p = clip(224);  // HF's class defaults; the config overrides them below
    } else if (type == "SiglipImageProcessor") {
      p = siglip(224);
    } else {
      VR_FAIL("unsupported image_processor_type '{}' (supported: CLIPImageProcessor, CLIPFeatureExtractor, "
              "SiglipImageProcessor)",
              type);
    }
    p.do_resize_ = get_bool(j, "do_resize", true);
    if (auto it = j.find("size"); it != j.end() && !it->is_null()) {
      // An int means shortest_edge for CLIP (HF's default_to_square=False) and height = width for SigLIP.
      if (it->is_number()) {
        int s = positive_int(*it, "size");
        if (p.kind_ == Kind::Clip) {
          p.shortest_edge_ = s;
        } else {
          p.resize_height_ = p.resize_width_ = s;
        }
      } else {
        VR_CHECK(it->is_object(), "'size' must be an integer or an object");
        if (it->contains("shortest_edge") && p.kind_ == Kind::Clip) {
          p.shortest_edge_ = positive_int((*it)["shortest_edge"], "size.shortest_edge");
        } else if (it->contains("height") && it->contains("width")) {
          p.shortest_edge_ = 0;
          p.resize_height_ = positive_int((*it)["height"], "size.height");
          p.resize_width_ = positive_int((*it)["width"], "size.width");
        } else {
          VR_FAIL("'size' {} is not supported for {} (expected {})", it->dump(), type,
                  p.kind_ == Kind::Clip ? "{\"shortest_edge\": S} or {\"height\", \"width\"}"
                                        : "{\"height\", \"width\"}");
        }
      }
    }
    if (auto it = j.find("resample"); it != j.end() && !it->is_null())
      {
      VR_CHECK(it->is_number_integer(), "'resample' must be a PIL filter number (3 = bicubic)");
      p.resample_ = resample_filter_from_pil(it->get<int>());
    }
    if (p.kind_ == Kind::Clip) {
      p.do_center_crop_ = get_bool(j, "do_center_crop", true);
      if (auto it = j.find("crop_size"); it != j.end() && !it->is_null()) {
        if (it->is_number()) {
          p.crop_height_ = p.crop_width_ = positive_int(*it, "crop_size");
        } else {
          VR_CHECK(it->is_object() && it->contains("height") && it->contains("width"),
                   "'crop_size' must be an integer or {{\"height\", \"width\"}}");
          p.crop_height_ = positive_int((*it)["height"], "crop_size.height");
          p.crop_width_ = positive_int((*it)["width"], "crop_size.width");
        }
      }
    }
    p.do_rescale_ = get_bool(j, "do_rescale", true);
    if (auto it = j.find("rescale_factor"); it != j.end() && !it->is_null()) {
      VR_CHECK(it->is_number(), "'rescale_factor' must be a number");
      p.rescale_factor_ = it->get<double>();
    }
    p.do_normalize_ = get_bool(j, "do_normalize", true);
    p.mean_ = get_triple(j, "image_mean", p.mean_);
    p.std_ = get_triple(j, "image_std", p.std_);
    for (double s : p.std_) VR_CHECK(s != 0.0, "'image_std' must not contain 0");
    p.build_lut();
    return p;
  } catch (const json::exception& e) {
    VR_FAIL("{}: invalid JSON: {}", file, e.what());
  } catch (...) {
    rethrow_with_context(file);
  }
}

void ImageProcessor::build_lut() {
  for (int c = 0; c < 3; ++c) {
    float mean = static_cast<float>(mean_[c]), stdv = static_cast<float>(std_[c]);
    for (int v = 0; v < 256; ++v) {
      float x = do_rescale_ ? static_cast<float>(static_cast<double>(v) * rescale_factor_) : static_cast<float>(v);
      lut_[c][v] = do_normalize_ ? (x - mean) / stdv : x;
    }
  }
}

std::array<uint8_t, 3> ImageProcessor::pad_color() const {
  std::array<uint8_t, 3> fill{};
  for (int c = 0; c < 3; ++c) {
    double v = std::trunc(mean_[c] * 255);  // Python int(): truncation, not rounding
    fill[c] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
  }
  return fill;
}

Image ImageProcessor::resize_and_crop(const Image& input, AspectMode mode) const {
  VR_CHECK(input.width > 0 && input.height > 0 &&
               input.pixels.size() == static_cast<size_t>(input.width) * input.height * 3,
           "image processor: invalid image {}x{} with {} bytes", input.width, input.height, input.pixels.size());
  Image padded;
  const Image* img = &input;
  if (mode == AspectMode::Pad && input.width != input.height) {
    padded = expand_to_square(input, pad_color());
    img = &padded;
  }
  // Size after resizing (HF get_resize_output_image_size with default_to_square=False for CLIP).
  int rh = img->height, rw = img->width;
  if (do_resize_) {
    if (shortest_edge_ > 0) {
      bool portrait = img->width <= img->height;
      int64_t shorter = portrait ? img->width : img->height, longer = portrait ? img->height : img->width;
      int long_side = static_cast<int>(static_cast<double>(shortest_edge_ * longer) / static_cast<double>(shorter));
      rh = portrait ? long_side : shortest_edge_;
      rw = portrait ? shortest_edge_ : long_side;
    } else {
      rh = resize_height_;
      rw = resize_width_;
    }
  }
  if (!do_center_crop_) return do_resize_ ? resize(*img, rw, rh, resample_) : *img;
  if (rh >= crop_height_ && rw >= crop_width_) {
    // The crop lies inside the resized image: compute only its pixels.
    Rect window{(rw - crop_width_) / 2, (rh - crop_height_) / 2, crop_width_, crop_height_};
    return do_resize_ ? resize_window(*img, rw, rh, resample_, window) : crop(*img, window);
  }
  return center_crop_padded(do_resize_ ? resize(*img, rw, rh, resample_) : *img, crop_height_, crop_width_);
}

void ImageProcessor::to_chw(const Image& px, float* out) const {
  size_t plane = static_cast<size_t>(px.width) * px.height;
  const uint8_t* in = px.pixels.data();
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  const float *lr = lut_[0].data(), *lg = lut_[1].data(), *lb = lut_[2].data();
  for (size_t i = 0; i < plane; ++i, in += 3) {  // HWC uint8 -> CHW float32
    r[i] = lr[in[0]];
    g[i] = lg[in[1]];
    b[i] = lb[in[2]];
  }
}

void ImageProcessor::process_into(const Image& img, AspectMode mode, float* out) const {
  Image px = resize_and_crop(img, mode);
  VR_CHECK(px.height == height() && px.width == width(), "image processor: produced {}x{}, expected {}x{}",
           px.width, px.height, width(), height());
  to_chw(px, out);
}

at::Tensor ImageProcessor::operator()(const Image& img, AspectMode mode) const {
  Image px = resize_and_crop(img, mode);
  at::Tensor t = at::empty({3, px.height, px.width}, at::kFloat);
  to_chw(px, t.data_ptr<float>());
  return t;
}

int ImageProcessor::height() const {
  if (do_center_crop_) return crop_height_;
  VR_CHECK(do_resize_ && shortest_edge_ == 0,
           "image processor: the output height depends on the input image (no crop, no fixed resize)");
  return resize_height_;
}

int ImageProcessor::width() const {
  if (do_center_crop_) return crop_width_;
  VR_CHECK(do_resize_ && shortest_edge_ == 0,
           "image processor: the output width depends on the input image (no crop, no fixed resize)");
  return resize_width_;
}

at::Tensor ImageProcessor::blank() const { return at::zeros({3, height(), width()}, at::kFloat); }

std::string ImageProcessor::describe() const {
  std::string s = kind_ == Kind::Clip ? "CLIPImageProcessor:" : "SiglipImageProcessor:";
  if (do_resize_) {
    s += shortest_edge_ > 0 ? fmt::format(" resize shortest edge to {}", shortest_edge_)
                            : fmt::format(" resize to {}x{}", resize_width_, resize_height_);
    s += fmt::format(" (PIL filter {})", static_cast<int>(resample_));
  }
  if (do_center_crop_) s += fmt::format(", center crop {}x{}", crop_width_, crop_height_);
  if (do_rescale_) s += fmt::format(", rescale x{:.17g}", rescale_factor_);
  if (do_normalize_)
    s += fmt::format(", normalize mean [{}, {}, {}] std [{}, {}, {}]", mean_[0], mean_[1], mean_[2], std_[0],
                     std_[1], std_[2]);
  auto pad = pad_color();
  s += fmt::format(", pad colour ({}, {}, {})", pad[0], pad[1], pad[2]);
  return s;
}

}  // namespace vr::image
