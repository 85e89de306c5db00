/* The version defines of an nccl.h, for the tests of cmake/VrNccl.cmake (NcclHeaderCheck.*). Not NCCL. */
#ifndef NCCL_H_
#define NCCL_H_
#define NCCL_MAJOR 2
#define NCCL_MINOR 28
#define NCCL_PATCH 9
#define NCCL_SUFFIX ""
#endif
