# Every third-party dependency, found in one place.
# Debian 12: libtorch-dev (1.13, CPU) or the LibTorch of a PyPI torch wheel (2.x, CUDA):
#   cmake -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
find_package(Threads REQUIRED)
# VR_LIBTORCH_DIR: a LibTorch root (holding lib/ and share/cmake/Torch), e.g. the torch/ folder of a PyPI wheel as
# unpacked by scripts/libtorch2.sh. TorchConfig's find_library() would otherwise pick Debian's /usr/lib copy first.
set(VR_LIBTORCH_DIR "" CACHE PATH "LibTorch root to use instead of the system one")
if(VR_LIBTORCH_DIR)
  list(PREPEND CMAKE_PREFIX_PATH "${VR_LIBTORCH_DIR}/share/cmake")
  foreach(lib torch torch_cpu torch_cuda c10 c10_cuda kineto)
    string(TOUPPER "${lib}" upper)
    if(EXISTS "${VR_LIBTORCH_DIR}/lib/lib${lib}.so")
      set(${lib}_LIBRARY "${VR_LIBTORCH_DIR}/lib/lib${lib}.so" CACHE FILEPATH "" FORCE)
      set(${upper}_LIBRARY "${VR_LIBTORCH_DIR}/lib/lib${lib}.so" CACHE FILEPATH "" FORCE)
    endif()
  endforeach()
  if(EXISTS "${VR_LIBTORCH_DIR}/../extra-lib")  # CUDA libs the wheel needs but a toolkit install lacks
    get_filename_component(VR_EXTRA_LIB "${VR_LIBTORCH_DIR}/../extra-lib" ABSOLUTE)
    link_directories("${VR_EXTRA_LIB}")
    set(CMAKE_BUILD_RPATH "${VR_LIBTORCH_DIR}/lib;${VR_EXTRA_LIB}")
    # DT_RPATH (not RUNPATH) so libtorch_cuda.so's own dependencies are found in extra-lib too.
    set(CMAKE_EXE_LINKER_FLAGS "${CMAKE_EXE_LINKER_FLAGS} -Wl,-rpath-link,${VR_EXTRA_LIB} -Wl,--disable-new-dtags")
  endif()
  # The wheel's libtorch.so exports its own copies of 64 std::filesystem functions (linked in statically, with
  # unresolved internals): bound to them, std::filesystem::remove_all jumps to address 0. Listing libstdc++
  # first among an executable's DT_NEEDED makes the dynamic linker bind these symbols to the system libstdc++.
  set(CMAKE_EXE_LINKER_FLAGS "${CMAKE_EXE_LINKER_FLAGS} -Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
  # A CUDA LibTorch's config needs nvcc, which may sit off PATH (cmake/VrNvcc.cmake).
  if(EXISTS "${VR_LIBTORCH_DIR}/lib/libtorch_cuda.so" AND NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    include(VrNvcc)
    vr_find_nvcc(VR_NVCC)
    if(NOT VR_NVCC)
      message(FATAL_ERROR "${VR_LIBTORCH_DIR} is a CUDA build of LibTorch: its CMake config needs nvcc (the CUDA "
              "toolkit; no GPU needed to build). None in $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin or on "
              "PATH: install the toolkit (NVIDIA's cuda-toolkit package) or pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc.")
    endif()
    set(CMAKE_CUDA_COMPILER "${VR_NVCC}" CACHE FILEPATH "CUDA compiler (found by vrtrain)")
    message(STATUS "nvcc for LibTorch's CUDA config: ${VR_NVCC}")
  endif()
endif()
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)

# stb (header-only, Debian libstb-dev) and our private libs.
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
set(VR_PRIVATE_INCLUDES ${STB_INCLUDE_DIR})
set(VR_PRIVATE_LIBS PkgConfig::PCRE2 PkgConfig::TURBOJPEG)
# libcairo (Debian libcairo2-dev) renders the PNG plots of `vrtrain compare` (src/eval/canvas_png.cpp). Linked by
# library only: the source includes <cairo/cairo.h>, which needs no extra include path, so no other file's flags change.
find_library(VR_CAIRO_LIBRARY cairo REQUIRED)
list(APPEND VR_PRIVATE_LIBS ${VR_CAIRO_LIBRARY})

# LibTorch 2.x exposes its version in TORCH_VERSION / Torch_VERSION; shims in include/vr/core/torch_compat.h.
set(VR_TORCH_DEFINES "")
if(TARGET torch_cuda OR CUDA_FOUND OR USE_CUDA)
  list(APPEND VR_TORCH_DEFINES VR_WITH_CUDA=1)
  # nccl.h of exactly the NCCL LibTorch was built with, ahead of any other on the include path (a CUDA toolkit's
  # own copy, say): cmake/VrNccl.cmake says why and where it is looked for.
  include(VrNccl)
  if(VR_LIBTORCH_DIR)
    vr_find_checked_nccl("${VR_LIBTORCH_DIR}")
  else()
    vr_find_checked_nccl("${TORCH_INSTALL_PREFIX}")
  endif()
  list(PREPEND VR_PRIVATE_INCLUDES "${VR_NCCL_INCLUDE_DIR}")
endif()
message(STATUS "vrtrain: Torch ${Torch_VERSION} (${TORCH_INSTALL_PREFIX}), fixtures: ${VR_FIXTURES_DIR}")
