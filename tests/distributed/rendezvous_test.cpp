#include "vr/distributed/rendezvous.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "vr/core/error.h"

namespace distributed_rendezvous_test {

using vr::distributed::EnvMap;
using vr::distributed::read_dist_env;

// rank, world size, local rank, local world size, node rank: what a process learns of its place.
std::vector<int64_t> place(const vr::distributed::DistEnv& d) {
  return {d.rank, d.world_size, d.local_rank, d.local_world_size, d.node_rank};
}

TEST(Rendezvous, NoVariablesIsOneProcess) {
  auto d = read_dist_env({});
  EXPECT_EQ(d.rank, 0);
  EXPECT_EQ(d.world_size, 1);
  EXPECT_EQ(d.source, "single");
}

TEST(Rendezvous, Torchrun) {
  auto d = read_dist_env(EnvMap{{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                                {"GROUP_RANK", "1"}, {"MASTER_ADDR", "head"}, {"MASTER_PORT", "29511"}});
  EXPECT_EQ(d.source, "torchrun");
  EXPECT_EQ(place(d), (std::vector<int64_t>{5, 8, 1, 4, 1}));
  EXPECT_EQ(d.master_addr, "head");
  EXPECT_EQ(d.master_port, 29511);
  EXPECT_FALSE(d.agent_store);
  auto agent = read_dist_env(EnvMap{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                    {"TORCHELASTIC_RUN_ID", "job"}, {"TORCHELASTIC_RESTART_COUNT", "1"}});
  EXPECT_TRUE(agent.agent_store);  // torchrun serves the store; rank 0 joins it as a client
  EXPECT_EQ(agent.store_prefix, "vr/job/1");
}

TEST(Rendezvous, SlurmMasterIsFirstHostAndPortFromJobId) {
  auto d = read_dist_env(EnvMap{{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"},
                                {"SLURM_NODEID", "1"}, {"SLURM_TASKS_PER_NODE", "2(x2)"},
                                {"SLURM_JOB_NODELIST", "gpu[07-08],cpu1"}, {"SLURM_JOB_ID", "1234567"}});
  EXPECT_EQ(d.source, "slurm");
  EXPECT_EQ(place(d), (std::vector<int64_t>{3, 4, 1, 2, 1}));
  EXPECT_EQ(d.master_addr, "gpu07");
  EXPECT_EQ(d.master_port, 15000 + 4567);
}

TEST(Rendezvous, SlurmUserPortAndAddressWin) {
  auto d = read_dist_env(EnvMap{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "a[1-2]"},
                                {"SLURM_JOB_ID", "99"}, {"MASTER_PORT", "4000"}, {"MASTER_ADDR", "10.0.0.9"}});
  EXPECT_EQ(d.master_port, 4000);
  EXPECT_EQ(d.master_addr, "10.0.0.9");
  auto no_job = read_dist_env(EnvMap{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(no_job.master_port, 12910);
}

TEST(Rendezvous, OpenMpi) {
  auto d = read_dist_env(EnvMap{{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                {"MASTER_ADDR", "n0"}});
  EXPECT_EQ(d.source, "openmpi");
  EXPECT_EQ(d.rank, 2);
  EXPECT_EQ(d.world_size, 4);
  EXPECT_EQ(d.local_world_size, 2);
  EXPECT_EQ(d.node_rank, 1);
  EXPECT_EQ(d.master_addr, "n0");
}

TEST(Rendezvous, ConfigOverridesEnvironment) {
  vr::distributed::DistOverrides o;
  o.rank = 1;
  o.world_size = 2;
  o.master_port = 31000;
  o.master_addr = "127.0.0.1";
  auto d = read_dist_env(EnvMap{{"RANK", "0"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "x"}}, o);
  EXPECT_EQ(d.rank, 1);
  EXPECT_EQ(d.world_size, 2);
  EXPECT_EQ(d.master_port, 31000);
  EXPECT_EQ(d.master_addr, "127.0.0.1");
}

TEST(Rendezvous, BadValuesNameTheVariable) {
  try {
    read_dist_env(EnvMap{{"RANK", "one"}, {"WORLD_SIZE", "2"}});
    FAIL() << "no error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK=one"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_dist_env(EnvMap{{"RANK", "2"}, {"WORLD_SIZE", "2"}}), vr::Error);
  EXPECT_THROW(read_dist_env(EnvMap{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}), vr::Error);
}

TEST(SlurmNodelist, ExpandsRangesListsAndPadding) {
  using V = std::vector<std::string>;
  EXPECT_EQ(vr::distributed::expand_slurm_nodelist("node[01-03],x"), (V{"node01", "node02", "node03", "x"}));
  EXPECT_EQ(vr::distributed::expand_slurm_nodelist("big[1,4-5]"), (V{"big1", "big4", "big5"}));
  EXPECT_EQ(vr::distributed::expand_slurm_nodelist("solo"), (V{"solo"}));
  EXPECT_EQ(vr::distributed::expand_slurm_nodelist("r[1-2]-ib"), (V{"r1-ib", "r2-ib"}));
  EXPECT_THROW(vr::distributed::expand_slurm_nodelist("bad[1-"), vr::Error);
  EXPECT_EQ(vr::distributed::expand_slurm_tasks_per_node("2(x3),1"), (std::vector<int64_t>{2, 2, 2, 1}));
}

}  // namespace distributed_rendezvous_test
