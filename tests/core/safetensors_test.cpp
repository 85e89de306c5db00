// safetensors reader/writer: bit-exact round trips, zero-copy mapping, fixture files, header validation.
#include "vr/core/file_io.h"
#include "vr/core/process_memory.h"
#include "vr/core/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"

namespace core_safetensors_test {

namespace fs = std::filesystem;

namespace {

// True when the two tensors have the same dtype, shape and bytes (NaN payloads included).
bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  if (ca.numel() == 0) return true;  // empty tensors may have null data pointers (memcmp(NULL, ...) is UB)
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

at::Tensor sample(at::ScalarType t, at::IntArrayRef shape) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  if (t == at::kBool) return at::randint(0, 2, shape, gen, at::kLong).to(at::kBool);
  if (at::isFloatingType(t)) {
    at::Tensor x = at::randn(shape, gen, at::kDouble).mul(100).to(t);
    if (x.numel() >= 3) {  // special values must survive bit-exactly too
      x.view(-1)[0] = std::numeric_limits<double>::quiet_NaN();
      x.view(-1)[1] = -std::numeric_limits<double>::infinity();
      x.view(-1)[2] = -0.0;
    }
    return x;
  }
  int64_t lo = t == at::kByte ? 0 : -100, hi = 100;
  at::Tensor x = at::randint(lo, hi, shape, gen, at::kLong);
  if (t == at::kLong && x.numel() >= 2) {
    x.view(-1)[0] = std::numeric_limits<int64_t>::min();
    x.view(-1)[1] = std::numeric_limits<int64_t>::max();
  }
  return x.to(t);
}

const std::vector<std::pair<vr::DType, at::ScalarType>> kAllTypes = {
    {vr::DType::F64, at::kDouble}, {vr::DType::F32, at::kFloat}, {vr::DType::F16, at::kHalf},
    {vr::DType::BF16, at::kBFloat16}, {vr::DType::I64, at::kLong}, {vr::DType::I32, at::kInt},
    {vr::DType::I16, at::kShort}, {vr::DType::I8, at::kChar}, {vr::DType::U8, at::kByte},
    {vr::DType::BOOL, at::kBool}};

std::string read_bytes(const std::string& path) {
  return vr::read_file(path);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A raw file: 8-byte length, `header` verbatim, `data_bytes` zero bytes.
std::string raw_file(const std::string& header, size_t data_bytes, uint64_t length_field = UINT64_MAX) {
  uint64_t n = length_field == UINT64_MAX ? header.size() : length_field;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + std::string(data_bytes, '\0');
}

// The error parse_safetensors_header gives for a file of this header and data size ("" when it parses).
std::string header_error(const std::string& header, size_t data_bytes, uint64_t length_field = UINT64_MAX) {
  std::string f = raw_file(header, data_bytes, length_field);
  try {
    vr::parse_safetensors_header(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "bad.safetensors");
  } catch (const vr::Error& e) {
    return e.what();
  }
  return "";
}

// Address ranges of /proc/self/maps lines that map `path`.
bool address_maps_file(const void* p, const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  const std::string canonical = fs::canonical(path).string();
  while (std::getline(maps, line)) {
    if (line.size() < canonical.size() || line.compare(line.size() - canonical.size(), canonical.size(), canonical))
      continue;
    uintptr_t lo = 0, hi = 0;
    std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi);
    if (addr >= lo && addr < hi) return true;
  }
  return false;
}

}  // namespace

TEST(Safetensors, DTypeTable) {
  for (const auto& [d, t] : kAllTypes) {
    EXPECT_EQ(vr::to_scalar_type(d), t);
    EXPECT_EQ(vr::from_scalar_type(t), d);
    EXPECT_EQ(vr::dtype_size(d), c10::elementSize(t)) << vr::dtype_name(d);
  }
  EXPECT_STREQ(vr::dtype_name(vr::DType::BF16), "BF16");
  EXPECT_THROW(vr::from_scalar_type(at::kComplexFloat), vr::Error);
}

TEST(Safetensors, RoundTripEveryDTypeBitExact) {
  const std::string path = vr::test::temp_dir("st") + "/all.safetensors";
  std::map<std::string, at::Tensor> in;
  for (const auto& [d, t] : kAllTypes) {
    in[std::string("m_") + vr::dtype_name(d)] = sample(t, {3, 5, 2});
    in[std::string("s_") + vr::dtype_name(d)] = sample(t, {});       // 0-d scalar
    in[std::string("e_") + vr::dtype_name(d)] = sample(t, {0, 4});   // empty
  }
  in["transposed"] = sample(at::kFloat, {4, 6}).t();  // non-contiguous input is written row-major
  vr::save_safetensors(path, in, {{"format", "pt"}, {"note", "x"}});

  vr::SafetensorsFile f(path);
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "x"}}));
  ASSERT_EQ(f.entries().size(), in.size());
  auto out = f.tensors();
  for (const auto& [name, t] : in) {
    ASSERT_TRUE(out.count(name)) << name;
    EXPECT_TRUE(bit_equal(out[name], t)) << name;
  }
}

TEST(Safetensors, WriterLayoutSortedPaddedWithDefaultMetadata) {
  const std::string path = vr::test::temp_dir("st") + "/layout.safetensors";
  vr::save_safetensors(path, {{"b", at::ones({3}, at::kFloat)}, {"a", at::zeros({2}, at::kHalf)}});
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 2 * 2 + 3 * 4);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"], nlohmann::json({{"format", "pt"}}));
  // sorted names: "a" (4 bytes) first, then "b"
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({0, 4}));
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({4, 16}));
  EXPECT_EQ(header["b"]["dtype"], "F32");
  EXPECT_EQ(header["b"]["shape"], nlohmann::json({3}));
  // no temp files left beside it
  size_t files = 0;
  for (auto& e : fs::directory_iterator(fs::path(path).parent_path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(Safetensors, ZeroCopyViewOutlivesFileObjectAndIsCopyOnWrite) {
  const std::string path = vr::test::temp_dir("st") + "/zc.safetensors";
  at::Tensor w = at::arange(1000, at::kFloat);
  vr::save_safetensors(path, {{"w", w}});
  at::Tensor t;
  {
    vr::SafetensorsFile f(path);
    t = f.tensor("w");
  }  // the file object is gone; the tensor keeps the mapping alive
  EXPECT_TRUE(address_maps_file(t.data_ptr(), path)) << "tensor data is not inside the file mapping";
  EXPECT_TRUE(bit_equal(t, w));
  t.mul_(2);  // private mapping: in-place writes are allowed and never reach the file
  EXPECT_EQ(t[3].item<float>(), 6.0f);
  EXPECT_TRUE(bit_equal(vr::load_safetensors(path).at("w"), w));
}

// release(): the resident pages of a tensor go back to the OS (RSS drops by about its size) and its views still
// read the file's values (a streaming resume copies a tensor, then releases it).
TEST(Safetensors, ReleaseDropsResidentPagesAndViewsStillRead) {
  const std::string path = vr::test::temp_dir("st") + "/release.safetensors";
  const int64_t n = 16 << 20;  // 64 MiB of fp32
  at::Tensor w = at::arange(n, at::kFloat), small = at::ones({3});
  vr::save_safetensors(path, {{"small", small}, {"w", w}});
  vr::SafetensorsFile f(path);
  at::Tensor t = f.tensor("w");
  const double touched = t.sum(at::kDouble).item<double>();  // every page resident now
  const int64_t before = vr::current_rss_bytes();
  f.release("w");
  const int64_t after = vr::current_rss_bytes();
  EXPECT_GT(before - after, n * 4 * 9 / 10) << "RSS " << before << " -> " << after;
  EXPECT_EQ(t.sum(at::kDouble).item<double>(), touched);  // read again from the file
  EXPECT_TRUE(bit_equal(f.tensor("small"), small));
}

TEST(Safetensors, UnalignedDataIsCopied) {
  // Header of 13 bytes: the data section starts at 21, so an F32 tensor there is misaligned.
  const std::string dir = vr::test::temp_dir("st");
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string file = raw_file(header, 0);
  float vals[2] = {1.5f, -2.25f};
  file.append(reinterpret_cast<const char*>(vals), 8);
  ASSERT_NE((8 + header.size()) % 4, 0u);
  write_bytes(dir + "/u.safetensors", file);
  at::Tensor t = vr::load_safetensors(dir + "/u.safetensors").at("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 4, 0u);
  EXPECT_FALSE(address_maps_file(t.data_ptr(), dir + "/u.safetensors"));
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.25f);
}

TEST(Safetensors, ReadsFixtureCheckpoint) {
  VR_REQUIRE_FIXTURE("llama_gqa/model.safetensors");
  const std::string path = vr::test::fixtures_dir() + "/llama_gqa/model.safetensors";
  vr::SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // llama_gqa: vocab 256, hidden 64, intermediate 176, 3 layers × 9 tensors + embed, norm, lm_head
  EXPECT_EQ(f.entries().size(), 3u * 9 + 3);
  EXPECT_EQ(f.entry("model.embed_tokens.weight").shape, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(f.entry("model.layers.2.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 176}));
  at::Tensor norm = f.tensor("model.layers.0.input_layernorm.weight");
  EXPECT_EQ(norm.scalar_type(), at::kFloat);
  // RMSNorm weights are drawn as 1 + 0.1·N(0,1) (fixtures README): all near 1.
  EXPECT_LT((norm - 1).abs().max().item<float>(), 1.0f);
}

TEST(Safetensors, ReadsEveryFixtureFileAndRewritesItIdentically) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string out = vr::test::temp_dir("st") + "/re.safetensors";
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(vr::test::fixtures_dir())) {
    if (e.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(e.path().string());
    vr::SafetensorsFile f(e.path().string());
    auto tensors = f.tensors();
    vr::save_safetensors(out, tensors, f.metadata());
    vr::SafetensorsFile g(out);
    EXPECT_EQ(g.metadata(), f.metadata());
    for (const auto& [name, t] : tensors) EXPECT_TRUE(bit_equal(g.tensor(name), t)) << name;
    ++files;
  }
  EXPECT_GT(files, 5u);
}

TEST(Safetensors, MissingTensorAndFileErrorsNameThem) {
  const std::string path = vr::test::temp_dir("st") + "/m.safetensors";
  vr::save_safetensors(path, {{"a", at::ones({1})}});
  vr::SafetensorsFile f(path);
  EXPECT_TRUE(f.contains("a"));
  EXPECT_FALSE(f.contains("b"));
  try {
    f.tensor("b");
    FAIL();
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos);
  }
  EXPECT_THROW(vr::SafetensorsFile("/nonexistent/x.safetensors"), vr::Error);
  EXPECT_THROW(vr::SafetensorsFile(fs::path(path).parent_path().string()), vr::Error);  // a directory
}

TEST(Safetensors, BoolBytesMustBeZeroOrOne) {
  const std::string path = vr::test::temp_dir("st") + "/b.safetensors";
  std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file = raw_file(header, 0) + std::string("\x01\x00\x02", 3);
  write_bytes(path, file);
  vr::SafetensorsFile f(path);
  EXPECT_THROW(f.tensor("m"), vr::Error);
}

TEST(Safetensors, WriterRejectsWhatTheFormatCannotHold) {
  const std::string dir = vr::test::temp_dir("st");
  EXPECT_THROW(vr::save_safetensors(dir + "/c.safetensors", {{"c", at::zeros({2}, at::kComplexFloat)}}), vr::Error);
  EXPECT_THROW(vr::save_safetensors(dir + "/c.safetensors", {{"__metadata__", at::zeros({2})}}), vr::Error);
  EXPECT_THROW(vr::save_safetensors(dir + "/c.safetensors", {{"u", at::Tensor()}}), vr::Error);
  EXPECT_FALSE(fs::exists(dir + "/c.safetensors"));
}

TEST(Safetensors, FailedWriteLeavesOldFileAndNoTempFile) {
  const std::string dir = vr::test::temp_dir("st");
  const std::string path = dir + "/w.safetensors";
  vr::save_safetensors(path, {{"a", at::ones({4})}});
  const std::string before = read_bytes(path);
  // A meta tensor has a dtype and shape (so the header is written) but no data: the write fails midway.
  std::map<std::string, at::Tensor> bad = {{"a", at::ones({4})}, {"z", at::empty({1000}, at::device(at::kMeta))}};
  try {
    vr::save_safetensors(path, bad);
    FAIL() << "no throw";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'z'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_bytes(path), before);
  size_t entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  EXPECT_EQ(entries, 1u);
}

// ---- header validation: one case per rule, each message checked for its key words ----------------------

TEST(SafetensorsHeader, AcceptsAValidHeaderAndOrdersByOffset) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("a":{"dtype":"I8","shape":[0],"data_offsets":[4,4]},"c":{"dtype":"U8","shape":[],"data_offsets":[4,5]}})";
  std::string f = raw_file(h, 5);
  auto parsed = vr::parse_safetensors_header(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "x");
  ASSERT_EQ(parsed.entries.size(), 3u);
  EXPECT_EQ(parsed.entries[0].name, "b");
  EXPECT_EQ(parsed.entries[1].name, "a");
  EXPECT_EQ(parsed.entries[2].name, "c");
  EXPECT_EQ(parsed.data_start, 8 + h.size());
  EXPECT_EQ(parsed.metadata.at("format"), "pt");
  // trailing space padding is allowed
  EXPECT_EQ(header_error(h + "   ", 5), "");
}

struct BadHeader {
  const char* what;
  std::string header;
  size_t data_bytes;
  std::vector<std::string> expect;  // substrings of the message
  uint64_t length_field = UINT64_MAX;
};

TEST(SafetensorsHeader, EveryValidationErrorIsAClearVrError) {
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const std::vector<BadHeader> cases = {
      {"length beyond file", "{}", 0, {"runs past the end"}, 1000},
      {"length above limit", "{}", 0, {"exceeds"}, 200'000'000},
      {"not json object start", "[1]", 0, {"does not start with '{'"}},
      {"bad json", R"({"a": )", 0, {"not valid JSON"}},
      {"invalid utf8", "{\"\xff\":1}", 0, {"not valid JSON"}},
      {"duplicate name", "{\"t\":{" + ok + "},\"t\":{" + ok + "}}", 8, {"'t'", "twice"}},
      {"entry not object", R"({"t":[1,2]})", 0, {"'t'", "expected an object"}},
      {"missing dtype", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8, {"'t'", "missing \"dtype\""}},
      {"missing shape", R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", 8, {"missing \"shape\""}},
      {"missing offsets", R"({"t":{"dtype":"F32","shape":[2]}})", 8, {"missing \"data_offsets\""}},
      {"dtype not string", R"({"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8, {"must be a string"}},
      {"unknown dtype", R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8, {"'t'", "unknown dtype"}},
      {"unsupported dtype", R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2, {"not supported"}},
      {"shape not list", R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, {"list of integers"}},
      {"negative dim", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, {"non-negative"}},
      {"fractional dim", R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8, {"non-negative"}},
      {"bool dim", R"({"t":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}})", 4, {"non-negative"}},
      {"huge shape", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       {"too large"}},
      {"huge empty shape", R"({"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", 0,
       {"too large"}},
      {"offsets not pair", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, {"[begin, end]"}},
      {"offsets negative", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, {"[begin, end]"}},
      {"end before begin", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, {"end before begin"}},
      {"beyond data", R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, {"'t'", "beyond the data"}},
      {"size mismatch", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, {"'t'", "needs 12 bytes"}},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, {"'b'", "overlap", "'a'"}},
      {"gap", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, {"'a'", "gap"}},
      {"trailing bytes", "{\"t\":{" + ok + "}}", 12, {"4 bytes after the last tensor"}},
      {"metadata not object", R"({"__metadata__":"pt"})", 0, {"__metadata__ must be an object"}},
      {"metadata value not string", R"({"__metadata__":{"format":1}})", 0, {"'format' must be a string"}},
  };
  for (const auto& c : cases) {
    std::string msg = header_error(c.header, c.data_bytes, c.length_field);
    EXPECT_NE(msg, "") << c.what << ": accepted";
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << c.what << ": " << msg;
    for (const auto& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << c.what << ": " << msg;
  }
  // shorter than the length field itself
  uint8_t tiny[3] = {1, 0, 0};
  EXPECT_THROW(vr::parse_safetensors_header(tiny, 3, "t"), vr::Error);
  EXPECT_THROW(vr::parse_safetensors_header(nullptr, 0, "t"), vr::Error);
}

}  // namespace core_safetensors_test
