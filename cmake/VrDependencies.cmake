# Every third-party dependency, found in one place.
# Debian 12: libtorch-dev (1.13, CPU) or the LibTorch of a PyPI torch wheel (2.x, CUDA):
#   cmake -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
find_package(Threads REQUIRED)
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)

# stb (header-only, Debian libstb-dev) and our private libs.
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
set(VR_PRIVATE_INCLUDES ${STB_INCLUDE_DIR})
set(VR_PRIVATE_LIBS PkgConfig::PCRE2 PkgConfig::TURBOJPEG)

# LibTorch 2.x exposes its version in TORCH_VERSION / Torch_VERSION; shims in include/vr/core/torch_compat.h.
set(VR_TORCH_DEFINES "")
if(TARGET torch_cuda OR CUDA_FOUND OR USE_CUDA)
  list(APPEND VR_TORCH_DEFINES VR_WITH_CUDA=1)
endif()
message(STATUS "vrtrain: Torch ${Torch_VERSION} (${TORCH_INSTALL_PREFIX}), fixtures: ${VR_FIXTURES_DIR}")
