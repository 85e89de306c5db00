// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing (TensorBoard event
// files). Debian 12 packages no C/C++ crc32c library (only python3-crc32c; abseil's absl/crc arrived after the
// bookworm version), and a byte-wise table is ~20 lines: fast enough for a few hundred bytes per training step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vr {

// CRC-32C of `data`; check value: crc32c("123456789") = 0xE3069283.
uint32_t crc32c(std::string_view data);

// TFRecord's "masked" CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8, so a CRC stored inside checksummed data does
// not checksum to a constant.
uint32_t masked_crc32c(std::string_view data);

}  // namespace vr
