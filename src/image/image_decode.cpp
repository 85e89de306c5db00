// Image decoding that reproduces `PIL.Image.open(f).convert("RGB")` (Pillow 9.4, libjpeg-turbo 2.1).
//   JPEG      libjpeg-turbo through TurboJPEG, with PIL's settings: accurate integer IDCT (JDCT_ISLOW) and
//             fancy (triangle-filter) chroma upsampling, so pixels equal PIL's. CMYK/YCCK files are read as
//             Adobe-inverted CMYK (PIL's "CMYK;I") and converted with PIL's cmyk2rgb arithmetic.
//   PNG/BMP   stb_image. PIL and stb agree on the RGB conversion: grey replicated, palette looked up, alpha
//   GIF       dropped (not composited), 16-bit samples -> their high byte. One PIL quirk is reproduced by
//             hand: a 16-bit greyscale PNG opens as mode "I" and converts by clipping to 255, not scaling.
// Known differences from PIL (rare in VLM datasets): GIF pixels of the transparent colour index come out
// black (PIL: that palette entry's colour); 16-bit (5-6-5) BMP channels are widened by bit replication
// (PIL: v * 255 / 31).
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <memory>

#include <stb_image.h>
#include <turbojpeg.h>

#include "vr/core/error.h"
#include "vr/image/image.h"

namespace vr::image {
namespace {

enum class Format { Jpeg, Png, Gif, Bmp, Unknown };

Format sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::Jpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::Png;
  if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) return Format::Gif;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return Format::Bmp;
  return Format::Unknown;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::Jpeg: return "JPEG";
    case Format::Png: return "PNG";
    case Format::Gif: return "GIF";
    case Format::Bmp: return "BMP";
    default: return "unknown";
  }
}

void check_size(int w, int h, int64_t max_pixels, const std::string& source) {
  VR_CHECK(w > 0 && h > 0, "{}: invalid image size {}x{}", source, w, h);
  VR_CHECK(static_cast<int64_t>(w) * h <= max_pixels,
           "{}: image of {}x{} = {} pixels exceeds the limit of {} (decompression bomb guard)", source, w, h,
           static_cast<int64_t>(w) * h, max_pixels);
}

// ---- JPEG -------------------------------------------------------------------------------------------

// One decompressor per thread (creating one costs more than decoding a small image). After any error or
// warning it is replaced: a reused handle can report a later header as 0x0.
struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  void reset() {
    if (h) tjDestroy(h);
    h = tjInitDecompress();
  }
};

// PIL's MULDIV255(a, b): a * b / 255 rounded, in integers.
inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels) {
  thread_local TjHandle tj;
  VR_CHECK(tj.h, "{}: cannot initialise libjpeg-turbo: {}", source, tjGetErrorStr2(nullptr));
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.h, data, static_cast<unsigned long>(size), &w, &h, &subsamp, &colorspace) != 0) {
    std::string msg = tjGetErrorStr2(tj.h);
    tj.reset();
    VR_FAIL("{}: corrupt JPEG header: {}", source, msg);
  }
  check_size(w, h, max_pixels, source);
  bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  int channels = cmyk ? 4 : 3;
  std::vector<uint8_t> buf(static_cast<size_t>(w) * h * channels);
  // ACCURATEDCT = JDCT_ISLOW and no FASTUPSAMPLE (fancy upsampling): libjpeg's defaults, which PIL keeps.
  // LIMITSCANS rejects progressive files with absurd scan counts (a CPU-exhaustion attack).
  int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
  if (tjDecompress2(tj.h, data, static_cast<unsigned long>(size), buf.data(), w, 0, h,
                    cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0) {
    std::string msg = tjGetErrorStr2(tj.h);
    // libjpeg warnings (recoverable corruption) still give an image, as in PIL; a truncated file does not:
    // PIL raises "image file is truncated" where libjpeg warns "Premature end of JPEG file".
    bool warning = tjGetErrorCode(tj.h) == TJERR_WARNING;
    tj.reset();
    VR_CHECK(warning && msg.find("Premature end") == std::string::npos, "{}: corrupt JPEG data: {}", source,
             msg);
  }
  Image img;
  img.width = w;
  img.height = h;
  if (!cmyk) {
    img.pixels = std::move(buf);
    return img;
  }
  // PIL reads 4-channel JPEGs as inverted ("Adobe") CMYK, then cmyk2rgb: nk = 255 - k,
  // channel = nk - nk * c / 255, where c, k are the inverted samples.
  img.pixels.resize(static_cast<size_t>(w) * h * 3);
  const uint8_t* in = buf.data();
  uint8_t* out = img.pixels.data();
  for (size_t i = 0, n = static_cast<size_t>(w) * h; i < n; ++i, in += 4, out += 3) {
    int nk = in[3];  // 255 - (255 - raw k)
    for (int c = 0; c < 3; ++c) {
      int v = nk - muldiv255(255 - in[c], nk);
      out[c] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
  }
  return img;
}

// ---- PNG / BMP / GIF (stb_image) --------------------------------------------------------------------

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

Image decode_stb(const uint8_t* data, size_t size, Format fmt, const std::string& source, int64_t max_pixels) {
  VR_CHECK(size <= static_cast<size_t>(INT32_MAX), "{}: file too large ({} bytes)", source, size);
  int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    VR_FAIL("{}: corrupt {} image: {}", source, format_name(fmt), stbi_failure_reason());
  check_size(w, h, max_pixels, source);
  Image img;
  // PNG IHDR: width(4) height(4) at offset 16, then bit depth (24) and colour type (25; 0 = greyscale).
  bool gray16 = fmt == Format::Png && size > 25 && data[24] == 16 && data[25] == 0;
  if (gray16) {
    std::unique_ptr<uint16_t, StbFree> px(stbi_load_16_from_memory(data, len, &w, &h, &comp, 1));
    VR_CHECK(px, "{}: corrupt PNG image: {}", source, stbi_failure_reason());
    img.width = w;
    img.height = h;
    img.pixels.resize(static_cast<size_t>(w) * h * 3);
    for (size_t i = 0, n = static_cast<size_t>(w) * h; i < n; ++i) {
      uint16_t v = px.get()[i];
      uint8_t c = v > 255 ? 255 : static_cast<uint8_t>(v);  // PIL's "I" -> "RGB" clips
      img.pixels[3 * i] = img.pixels[3 * i + 1] = img.pixels[3 * i + 2] = c;
    }
    return img;
  }
  std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(data, len, &w, &h, &comp, 3));
  VR_CHECK(px, "{}: corrupt {} image: {}", source, format_name(fmt), stbi_failure_reason());
  check_size(w, h, max_pixels, source);
  img.width = w;
  img.height = h;
  img.pixels.assign(px.get(), px.get() + static_cast<size_t>(w) * h * 3);
  return img;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels) {
  VR_CHECK(data != nullptr || size == 0, "{}: no data", source);
  Format fmt = sniff(data, size);
  switch (fmt) {
    case Format::Jpeg: return decode_jpeg(data, size, source, max_pixels);
    case Format::Png:
    case Format::Gif:
    case Format::Bmp: return decode_stb(data, size, fmt, source, max_pixels);
    case Format::Unknown: break;
  }
  VR_CHECK(size > 0, "{}: empty file", source);
  VR_FAIL("{}: not a PNG, JPEG, GIF or BMP image (unrecognised leading bytes)", source);
}

Image decode_image_file(const std::string& path, int64_t max_pixels) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  VR_CHECK(f, "{}: cannot open image file: {}", path, std::strerror(errno));
  std::streamsize n = f.tellg();
  VR_CHECK(n >= 0, "{}: cannot read image file", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  f.seekg(0);
  VR_CHECK(f.read(reinterpret_cast<char*>(bytes.data()), n), "{}: cannot read image file: {}", path,
           std::strerror(errno));
  return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

}  // namespace vr::image
