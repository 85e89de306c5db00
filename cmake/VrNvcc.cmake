# nvcc for a CUDA LibTorch: its CMake config (Caffe2's cuda.cmake) enables the CUDA language, which needs the
# compiler even though vrtrain has no .cu file. NVIDIA's toolkit packages install it in /usr/local/cuda/bin, which
# is on no default PATH: without this lookup a bare Debian 12 stops in enable_language(CUDA) with "Failed to detect
# a default CUDA architecture" (docs/benchmarks.md, "The README's first command on a bare Debian 12").
#
# vr_find_nvcc(<var>): nvcc from $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin, then PATH; "" when none.
function(vr_find_nvcc out)
  find_program(_vr_nvcc nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin NO_CACHE)
  if(_vr_nvcc)
    set(${out} "${_vr_nvcc}" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()
