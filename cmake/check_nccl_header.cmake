# Script mode for the tests of cmake/VrNccl.cmake (tests/CMakeLists.txt, NcclHeaderCheck.*):
#   cmake -DHEADER=path/nccl.h -DEXPECTED=2.28.9 -P cmake/check_nccl_header.cmake
include("${CMAKE_CURRENT_LIST_DIR}/VrNccl.cmake")
vr_check_nccl_header("${HEADER}" "${EXPECTED}")
