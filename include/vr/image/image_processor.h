// Hugging Face image processors (CLIPImageProcessor, SiglipImageProcessor) in C++, bit-exact:
// RGB uint8 image -> [optional LLaVA pad to square] -> resize (Pillow) -> center crop -> rescale -> normalize
// -> float32 [3, H, W]. Configured from a model's preprocessor_config.json or from the published defaults.
#pragma once
#include <array>
#include <string>

#include <ATen/Tensor.h>

#include "vr/image/image.h"

namespace vr::image {

// How a non-square image reaches the processor.
//   Square: handed over as is (CLIP: shortest-side resize + center crop; SigLIP: anisotropic resize).
//   Pad:    LLaVA's expand2square with the processor's pad_color() first (the SFT / eval default).
enum class AspectMode { Square, Pad };
AspectMode parse_aspect_mode(const std::string& s);  // "square" | "pad"; anything else throws
const char* aspect_mode_name(AspectMode m);

class ImageProcessor {
 public:
  enum class Kind { Clip, Siglip };

  // Reads preprocessor_config.json (or DIR/preprocessor_config.json). Honours do_resize, size
  // ({"shortest_edge"} / {"height","width"} / int), resample, do_center_crop, crop_size, do_rescale,
  // rescale_factor, do_normalize, image_mean, image_std. image_processor_type (or the older
  // feature_extractor_type) must name a CLIP or SigLIP processor; anything else throws naming the file.
  static ImageProcessor from_path(const std::string& path);
  static ImageProcessor clip(int size = 336);    // openai/clip-vit-large-patch14-336 defaults
  static ImageProcessor siglip(int size = 384);  // google/siglip-so400m-patch14-384 defaults

  // The uint8 image after padding (Pad), resize and center crop: HF's pixels before rescale/normalize.
  Image resize_and_crop(const Image& img, AspectMode mode) const;
  // float32 [3, H, W]: x = float32(double(u8) * rescale_factor); (x - mean) / std in float32, per channel.
  at::Tensor operator()(const Image& img, AspectMode mode) const;
  // Same, written into `out` (float32, [3, H, W] contiguous memory), e.g. one row of a preallocated batch.
  void process_into(const Image& img, AspectMode mode, float* out) const;
  at::Tensor blank() const;  // zeros [3, H, W]: the image slot of a text-only sample

  int height() const;  // of the output
  int width() const;
  Kind kind() const { return kind_; }
  // expand2square fill: int(mean * 255) per channel, truncated as LLaVA does (CLIP 122,116,104; SigLIP 127x3).
  std::array<uint8_t, 3> pad_color() const;
  std::string describe() const;  // one line, e.g. for logs and `vrtrain preprocess --help`

 private:
  Kind kind_ = Kind::Clip;
  bool do_resize_ = true;
  int shortest_edge_ = 0;                 // > 0: resize the short side to this (CLIP), long side int(S*long/short)
  int resize_height_ = 0, resize_width_ = 0;  // used when shortest_edge_ == 0
  ResampleFilter resample_ = ResampleFilter::Bicubic;
  bool do_center_crop_ = false;
  int crop_height_ = 0, crop_width_ = 0;
  bool do_rescale_ = true;
  double rescale_factor_ = 1.0 / 255.0;
  bool do_normalize_ = true;
  std::array<double, 3> mean_{}, std_{};  // as written in the config (double); normalised in float32
  std::array<std::array<float, 256>, 3> lut_{};  // lut_[c][v]: the final float value of level v in channel c

  void build_lut();
  void to_chw(const Image& px, float* out) const;  // uint8 HWC -> float32 CHW through lut_
};

}  // namespace vr::image
