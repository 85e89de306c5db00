# NCCL's header for c10d's ProcessGroupNCCL.hpp (CUDA LibTorch only), checked against the NCCL LibTorch was built
# with. ProcessGroupNCCL::Options holds an ncclConfig_t that the torch library fills in: compiled against another
# NCCL's nccl.h, the struct's layout differs and the library writes past it (heap corruption). So the header must
# be exactly that version; configure stops otherwise.
#
# Where the header comes from (first found): -DVR_NCCL_INCLUDE_DIR=...; <libtorch>/../nccl/include (written by
# scripts/libtorch2.sh from the nvidia-nccl-cu13 wheel); <libtorch>/../nvidia/nccl/include (a pip-installed torch:
# site-packages holds torch/ and nvidia/ side by side). The version it must have (first known):
# -DVR_NCCL_VERSION=2.28.9; <libtorch>/../nccl/version.txt (libtorch2.sh); the torch wheel's METADATA
# ("Requires-Dist: nvidia-nccl-cu13==2.28.9") beside <libtorch>.

# "2.28.9" from an nccl.h (its NCCL_MAJOR / NCCL_MINOR / NCCL_PATCH defines); "" when they are missing.
function(vr_nccl_header_version header out_var)
  file(STRINGS "${header}" defines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  set(version "")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "#define NCCL_${part} +([0-9]+)" _ "${defines}")
    if(NOT CMAKE_MATCH_1 AND NOT CMAKE_MATCH_1 STREQUAL "0")
      set(${out_var} "" PARENT_SCOPE)
      return()
    endif()
    list(APPEND version "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN version "." version)
  set(${out_var} "${version}" PARENT_SCOPE)
endfunction()

# Stops configure unless `header` is NCCL `expected` (empty `expected`: only a warning that it cannot be checked).
function(vr_check_nccl_header header expected)
  vr_nccl_header_version("${header}" found)
  if(NOT found)
    message(FATAL_ERROR "vrtrain: ${header} is not an NCCL header (no NCCL_MAJOR/MINOR/PATCH defines)")
  endif()
  if(NOT expected)
    message(WARNING "vrtrain: using NCCL ${found} from ${header}, but the NCCL this LibTorch was built with is "
                    "unknown: pass -DVR_NCCL_VERSION=<torch's NCCL> to check it (python -c 'import torch; "
                    "print(torch.cuda.nccl.version())')")
  elseif(NOT found VERSION_EQUAL expected)
    message(FATAL_ERROR
            "vrtrain: ${header} is NCCL ${found}, but this LibTorch was built with NCCL ${expected}. c10d's "
            "ProcessGroupNCCL::Options embeds NCCL's ncclConfig_t, which the torch library fills in: a header of "
            "another version corrupts memory. Use the header of NCCL ${expected}: pip download --no-deps "
            "nvidia-nccl-cu13==${expected} and pass -DVR_NCCL_INCLUDE_DIR=<unpacked>/nvidia/nccl/include "
            "(scripts/libtorch2.sh does this)")
  else()
    message(STATUS "vrtrain: NCCL ${found} header (${header}) matches this LibTorch's NCCL")
  endif()
endfunction()

# The version LibTorch at `libtorch_dir` was built with, from the files listed above; "" when unknown.
function(vr_torch_nccl_version libtorch_dir out_var)
  set(version "${VR_NCCL_VERSION}")
  if(NOT version AND EXISTS "${libtorch_dir}/../nccl/version.txt")
    file(STRINGS "${libtorch_dir}/../nccl/version.txt" version LIMIT_COUNT 1)
  endif()
  if(NOT version)
    file(GLOB metadata "${libtorch_dir}/../torch-*.dist-info/METADATA")
    foreach(m ${metadata})
      file(STRINGS "${m}" pins REGEX "^Requires-Dist: nvidia-nccl-cu[0-9]+==")
      string(REGEX MATCH "==([0-9.]+)" _ "${pins}")
      if(CMAKE_MATCH_1)
        set(version "${CMAKE_MATCH_1}")
      endif()
    endforeach()
  endif()
  set(${out_var} "${version}" PARENT_SCOPE)
endfunction()

# Sets VR_NCCL_INCLUDE_DIR (cache) to the checked header's folder for a CUDA LibTorch at `libtorch_dir`.
function(vr_find_checked_nccl libtorch_dir)
  set(VR_NCCL_VERSION "" CACHE STRING "NCCL version the LibTorch was built with (empty: read beside LibTorch)")
  find_path(VR_NCCL_INCLUDE_DIR nccl.h NO_DEFAULT_PATH
            PATHS "${libtorch_dir}/../nccl/include" "${libtorch_dir}/../nvidia/nccl/include")
  if(NOT VR_NCCL_INCLUDE_DIR)
    message(FATAL_ERROR
            "vrtrain: a CUDA LibTorch needs NCCL's nccl.h of the version it was built with (c10d's "
            "ProcessGroupNCCL.hpp includes it), and none was found beside ${libtorch_dir}. Run scripts/libtorch2.sh "
            "(fetches it), or pip install nvidia-nccl-cu13==<torch's NCCL> next to torch, or pass "
            "-DVR_NCCL_INCLUDE_DIR=<folder of nccl.h>")
  endif()
  vr_torch_nccl_version("${libtorch_dir}" expected)
  vr_check_nccl_header("${VR_NCCL_INCLUDE_DIR}/nccl.h" "${expected}")
endfunction()
