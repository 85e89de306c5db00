#include "vr/data/dataset_check.h"

#include <filesystem>

#include "vr/core/error.h"
#include "vr/data/label_masking.h"
#include "vr/image/image.h"

namespace vr::data {

DatasetCheck check_dataset(const Dataset& ds, const ConversationTemplate& tpl, const TextEncoder* encoder,
                           const DatasetCheckOptions& opt, const std::function<void(const std::string&)>& report) {
  DatasetCheck c;
  c.records = ds.size();
  for (int64_t i = 0; i < ds.size(); ++i) {
    std::string id = "?";
    try {
      const Sample s = ds.get(i);
      id = s.id;
      for (const auto& path : s.image_paths) {
        if (opt.decode) (void)vr::image::decode_image_file(path);
        else VR_CHECK(std::filesystem::is_regular_file(path), "image file '{}' not found", path);
      }
      if (encoder) {
        const auto t = tokenize_conversation(s.conversations, s.num_images() > 0, tpl, *encoder,
                                             opt.model_max_length);
        if (t.mismatch) {
          ++c.mismatched;
          report(record_error(ds.source(), i, id, "warning: tokenization mismatch, the whole sample would be masked"));
        }
      }
      c.images += s.num_images();
      c.with_images += s.num_images() > 0;
      c.text_only += s.num_images() == 0;
    } catch (const std::exception& e) {
      ++c.bad;
      std::string msg = e.what();
      // Errors from get() already name file, record and id; the others get that prefix here.
      if (msg.rfind(ds.source() + ": record ", 0) != 0) msg = record_error(ds.source(), i, id, msg);
      report(msg);
    }
  }
  return c;
}

}  // namespace vr::data
