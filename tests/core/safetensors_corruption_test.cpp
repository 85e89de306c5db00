// Randomized corruption of real safetensors files: bit flips, truncation, length-field lies and targeted
// header edits. Every outcome must be either a clean read or a vr::Error — never a crash, never another
// exception type. Edits that certainly break the format must be rejected. Seeded, so failures reproduce
// (the trace names the base file, iteration and mutation). The libFuzzer targets in tests/fuzz go further.
#include <fstream>
#include <random>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"

namespace core_safetensors_corruption_test {

namespace {

std::string read_bytes(const std::string& path) {
  return vr::read_file(path);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

uint64_t length_field(const std::string& f) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(f[i]);
  return n;
}

std::string with_length_field(std::string f, uint64_t n) {
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>(n >> (8 * i));
  return f;
}

// Reads `bytes` through the header parser and, from a file, the full reader (every tensor materialised).
// Returns "" when accepted, else the vr::Error message; other exceptions escape and fail the test.
std::string read_all_ways(const std::string& bytes, const std::string& path) {
  try {
    vr::parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
  } catch (const vr::Error& e) {
    // the file reader must agree
    write_bytes(path, bytes);
    EXPECT_THROW(vr::SafetensorsFile{path}, vr::Error);
    return e.what();
  }
  write_bytes(path, bytes);
  try {
    vr::SafetensorsFile file(path);
    for (const auto& e : file.entries()) {
      at::Tensor t = file.tensor(e.name);
      EXPECT_EQ(t.sizes().vec(), e.shape);
      if (t.numel() > 0) (void)t.to(at::kDouble).sum().item<double>();
    }
  } catch (const vr::Error& e) {
    return e.what();  // e.g. a flipped BOOL byte
  }
  return "";
}

struct Mutation {
  std::string bytes;
  std::string what;
  bool must_fail;
};

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  Mutation operator()(const std::string& f) {
    const uint64_t n = length_field(f);
    switch (pick(6)) {
      case 0: {  // bit flips, mostly inside the length field and header
        std::string g = f;
        const size_t limit = pick(10) < 7 ? std::min<size_t>(g.size(), 8 + n) : g.size();
        const int flips = 1 + static_cast<int>(pick(4));
        for (int i = 0; i < flips; ++i) g[pick(limit)] ^= static_cast<char>(1u << pick(8));
        return {g, fmt::format("{} bit flips", flips), false};
      }
      case 1: {  // truncation: the header or data no longer fits (or the tiling no longer covers the file)
        const size_t keep = pick(f.size());
        return {f.substr(0, keep), fmt::format("truncated to {} bytes", keep), true};
      }
      case 2: {  // a length field that lies
        const uint64_t lies[] = {f.size() - 8 + 1 + pick(1000), UINT64_MAX, 1ull << 63, 100'000'001};
        const uint64_t v = lies[pick(4)];
        return {with_length_field(f, v), fmt::format("length field {}", v), true};
      }
      case 3: {  // garbage inserted into / removed from the header (may still parse, e.g. inside padding)
        std::string g = f;
        const size_t pos = 8 + pick(n);
        if (pick(2)) {
          g.insert(pos, 1, "{}[],:\"x0-"[pick(10)]);
          g = with_length_field(g, n + 1);
        } else {
          g.erase(pos, 1);
          g = with_length_field(g, n - 1);
        }
        return {g, fmt::format("header byte edit at {}", pos), false};
      }
      case 4: return header_edit(f, n);
      default: {  // random garbage
        std::string g(pick(64), '\0');
        for (auto& c : g) c = static_cast<char>(pick(256));
        return {g, "random bytes", false};
      }
    }
  }

 private:
  // A semantic edit of one tensor's entry that the format forbids; the file must be rejected.
  Mutation header_edit(const std::string& f, uint64_t n) {
    nlohmann::json h = nlohmann::json::parse(f.substr(8, n));
    std::vector<std::string> names;
    for (const auto& [k, v] : h.items())
      if (k != "__metadata__" && v["data_offsets"][1].get<uint64_t>() > v["data_offsets"][0].get<uint64_t>())
        names.push_back(k);
    if (names.size() < 2) return {f.substr(0, 7), "too short", true};
    const std::string a = names[pick(names.size())];
    std::string b = names[pick(names.size())];
    if (b == a) b = names[(std::find(names.begin(), names.end(), a) - names.begin() + 1) % names.size()];
    auto& e = h[a];
    std::string what;
    switch (pick(8)) {
      case 0: e["data_offsets"] = h[b]["data_offsets"], e["shape"] = h[b]["shape"], e["dtype"] = h[b]["dtype"];
        what = "offsets overlapping another tensor"; break;
      case 1: e["shape"] = {1ull << 62, 8}; what = "huge shape"; break;
      case 2: e["dtype"] = std::vector<std::string>{"F33", "f32", "", "C64", "U32"}[pick(5)]; what = "bad dtype"; break;
      case 3: e["shape"][0] = -1; what = "negative dim"; break;
      case 4: e["data_offsets"][1] = e["data_offsets"][1].get<uint64_t>() + 4; what = "end beyond its size"; break;
      case 5: e.erase(std::vector<std::string>{"dtype", "shape", "data_offsets"}[pick(3)]); what = "missing field"; break;
      case 6: h["__metadata__"] = {{"format", 1}}; what = "non-string metadata"; break;
      default: e["shape"] = "[2, 3]"; what = "shape as a string"; break;
    }
    std::string header = h.dump();
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string g(8, '\0');
    g = with_length_field(g, header.size()) + header + f.substr(8 + n);
    return {g, what + " on '" + a + "'", true};
  }

  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  std::mt19937 rng_;
};

}  // namespace

TEST(SafetensorsCorruption, RandomCorruptionsAreCleanErrors) {
  const std::string dir = vr::test::temp_dir("corrupt");
  std::vector<std::pair<std::string, std::string>> bases;  // (label, bytes)
  {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    std::map<std::string, at::Tensor> t = {
        {"w.f32", at::randn({4, 3}, gen)},        {"w.bf16", at::randn({5}, gen).to(at::kBFloat16)},
        {"w.f16", at::randn({2, 2}, gen).to(at::kHalf)}, {"ids", at::arange(6, at::kLong).view({2, 3})},
        {"mask", at::ones({3}, at::kBool)},      {"img", at::full({2, 2, 3}, 200, at::kByte)},
        {"scalar", at::scalar_tensor(1.5, at::kDouble)}, {"empty", at::empty({0, 4}, at::kInt)}};
    vr::save_safetensors(dir + "/base.safetensors", t);
    bases.emplace_back("writer", read_bytes(dir + "/base.safetensors"));
  }
  if (vr::test::have_fixture("llama_gqa/model.safetensors"))
    bases.emplace_back("llama_gqa", read_bytes(vr::test::fixtures_dir() + "/llama_gqa/model.safetensors"));

  Mutator mutate(20241125);
  int accepted = 0, rejected = 0;
  for (const auto& [label, base] : bases) {
    ASSERT_EQ(read_all_ways(base, dir + "/t.safetensors"), "") << label << " must be valid before corruption";
    const int iterations = label == "writer" ? 600 : 150;  // the fixture is 0.7 MB per write
    for (int i = 0; i < iterations; ++i) {
      Mutation m = mutate(base);
      SCOPED_TRACE(fmt::format("{} iteration {}: {}", label, i, m.what));
      std::string err = read_all_ways(m.bytes, dir + "/t.safetensors");
      if (m.must_fail) {
        EXPECT_NE(err, "") << "corrupted file was accepted";
      }
      if (!err.empty()) {
        EXPECT_NE(err.find(dir + "/t.safetensors"), std::string::npos) << err;
      }
      (err.empty() ? accepted : rejected)++;
    }
  }
  EXPECT_GT(rejected, 100);
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
}

}  // namespace core_safetensors_corruption_test
