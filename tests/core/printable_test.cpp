// Errors about corrupt files quote bytes of the file only escaped: the message stays valid UTF-8 without
// control characters (no raw 0xff on the terminal, no escape sequences from a crafted tensor name).
#include "vr/core/printable.h"

#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/tensor_files.h"
#include "vr/core/torch_pickle.h"

namespace core_printable_test {

namespace {

using vr::test::error_of;

// Structural UTF-8 check (lead byte and continuation count; independent of printable()) and no C0/DEL bytes.
bool clean_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 1 && (c < 0x20 || c == 0x7f))) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

// A safetensors file whose header is `header` (one 4-byte data section).
std::string safetensors_bytes(const std::string& header) {
  std::string f(8, '\0');
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  return f + header + std::string(4, '\0');
}

}  // namespace

TEST(Printable, EscapesIllFormedBytesAndControlsKeepsUtf8) {
  EXPECT_EQ(vr::printable("plain ascii"), "plain ascii");
  EXPECT_EQ(vr::printable("gr\xc3\xb6\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80"), "gr\xc3\xb6\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(vr::printable("a\xff" "b\xfe"), "a\\xffb\\xfe");
  EXPECT_EQ(vr::printable("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
  EXPECT_EQ(vr::printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(vr::printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(vr::printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // UTF-16 surrogate
  EXPECT_EQ(vr::printable("cut \xe2\x82"), "cut \\xe2\\x82");   // truncated sequence
  EXPECT_EQ(vr::printable(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
  for (int b = 0; b < 256; ++b) EXPECT_TRUE(clean_utf8(vr::printable(std::string(3, static_cast<char>(b))))) << b;
}

TEST(Printable, CorruptSafetensorsHeaderErrorsAreValidUtf8) {
  const std::string dir = vr::test::temp_dir("printable");
  // Ill-formed UTF-8 inside the header JSON: nlohmann's message quotes the bytes it read.
  const std::string bad_utf8 = dir + "/bad_utf8.safetensors";
  vr::atomic_write_file(bad_utf8,
                        safetensors_bytes("{\"w\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"));
  std::string msg = error_of([&] { vr::load_safetensors(bad_utf8); });
  ASSERT_FALSE(msg.empty());
  EXPECT_TRUE(clean_utf8(msg)) << msg;
  EXPECT_NE(msg.find("\\xff"), std::string::npos) << msg;
  // A JSON-escaped control sequence in a tensor name reaches the message escaped.
  const std::string ctrl = dir + "/ctrl.safetensors";
  vr::atomic_write_file(ctrl, safetensors_bytes(
                                  "{\"\\u001b[2Jw\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}"));
  msg = error_of([&] { vr::load_safetensors(ctrl); });
  ASSERT_FALSE(msg.empty());
  EXPECT_TRUE(clean_utf8(msg)) << msg;
  EXPECT_NE(msg.find("\\x1b[2Jw"), std::string::npos) << msg;
}

TEST(Printable, CorruptJsonAndPickleErrorsAreValidUtf8) {
  const std::string dir = vr::test::temp_dir("printable_json");
  vr::atomic_write_file(dir + "/config.json", "{\"model_type\": \"ll\xff\xfe\x1b\"}");
  std::string msg = error_of([&] { vr::load_config_json(dir); });
  ASSERT_FALSE(msg.empty());
  EXPECT_TRUE(clean_utf8(msg)) << msg;
  // A torch.save zip signature followed by garbage.
  vr::atomic_write_file(dir + "/pytorch_model.bin", std::string("PK\x03\x04", 4) + "\xff\xfe\x1b[31m garbage \x80\x81");
  msg = error_of([&] { vr::load_torch_pickle(dir + "/pytorch_model.bin"); });
  ASSERT_FALSE(msg.empty());
  EXPECT_TRUE(clean_utf8(msg)) << msg;
}

}  // namespace core_printable_test
