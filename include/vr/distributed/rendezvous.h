// Who this process is in a data-parallel job, read from the environment the launcher exported, with the
// `dist.*` config keys overriding. Sources, first match wins:
//   torchrun / vrtrain launch: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT
//   Slurm (srun, one task per GPU): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID,
//     SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE; master = first host of SLURM_JOB_NODELIST;
//     port = MASTER_PORT, else 15000 + SLURM_JOB_ID % 10000 (as Lightning), else 12910
//   Open MPI (mpirun): OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE; MASTER_ADDR/PORT from the env
//   nothing: one process (rank 0 of 1).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vr::distributed {

struct DistEnv {
  int64_t rank = 0, world_size = 1;
  int64_t local_rank = 0, local_world_size = 1;
  int64_t node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string source = "single";  // single | torchrun | slurm | openmpi | config
  // torchrun already serves a TCPStore at MASTER_ADDR:MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True): every
  // rank, rank 0 included, joins it as a client, under a key prefix of this restart (TORCHELASTIC_RESTART_COUNT).
  bool agent_store = false;
  std::string store_prefix = "vr";
};

// The `dist.*` keys of a run config that take part in rendezvous; -1 / "" mean "from the environment".
struct DistOverrides {
  int64_t rank = -1, world_size = -1, local_rank = -1;
  std::string master_addr;
  int64_t master_port = -1;
};

using EnvMap = std::map<std::string, std::string>;

// The process environment as a map (only the variables read here).
EnvMap process_env();
// Throws vr::Error naming the variable for non-numeric values or inconsistent ranks (rank >= world size ...).
DistEnv read_dist_env(const EnvMap& env, const DistOverrides& overrides = {});

// Slurm host lists: "node[01-03],gpu7,big[1,4-5]" -> node01 node02 node03 gpu7 big1 big4 big5 (zero padding kept).
std::vector<std::string> expand_slurm_nodelist(const std::string& list);
// "2(x3),1" -> counts per node {2,2,2,1} (SLURM_TASKS_PER_NODE syntax).
std::vector<int64_t> expand_slurm_tasks_per_node(const std::string& spec);

}  // namespace vr::distributed
