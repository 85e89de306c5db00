// Private to src/distributed: before the process group is created, every rank publishes the address its backend
// will advertise (and which host it is on) in the TCPStore, and reads everyone's. A loopback address in a job that
// spans hosts then fails at once on every rank, naming the ranks and the fix, instead of a connect timeout.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/distributed/network_interface.h"
#include "vr/distributed/rendezvous.h"

namespace c10d {
class Store;
}

namespace vr::distributed {

struct RankAddress {
  int64_t rank = 0;
  std::string address, interface, how;
  std::string host;     // host name, for messages
  std::string host_id;  // boot id + network namespace: equal iff two ranks share a network stack
  bool master_remote = false;  // MASTER_ADDR is not an address of this rank's host
  std::string route;           // "eth0 10.0.0.2": the interface that routes to MASTER_ADDR here, "" when unknown
};

// This rank's entry: the address `backend` will advertise (pick_advertised on the environment), the host, and
// whether MASTER_ADDR is on another host. Throws vr::Error when MASTER_ADDR does not resolve.
RankAddress this_rank_address(const DistEnv& env, const std::string& backend);
// "rank 0 10.0.0.1 (eth0), rank 1 10.0.0.2 (eth0)".
std::string describe_addresses(const std::vector<RankAddress>& all);
// This process's boot id and network namespace ("<boot_id>/net:[4026531992]").
std::string host_identity();
// Whether `master_addr` names an address of this host (loopback included); false when it does not resolve.
bool master_is_local(const std::string& master_addr, const std::vector<NetInterface>& ifs);

// "" when fine. Otherwise the reason: ranks on different hosts (distinct host_id) and some advertise loopback.
std::string loopback_problem(const std::vector<RankAddress>& all);
// The line printed at start: "network: gloo advertises 10.0.0.2 on eth0 (GLOO_SOCKET_IFNAME=eth0); MASTER_ADDR ...".
std::string describe_choice(const std::string& backend, const RankAddress& me, const std::string& master_addr);

// Publishes `me` under <env.store_prefix>/net/<rank>, fails at once (vr::Error with the hint) when this rank
// would advertise loopback while MASTER_ADDR is on another host, then reads every rank's entry and fails on
// loopback_problem; returns every rank's entry. Store reads wait with the store's timeout (the caller's watchdog bounds them too).
std::vector<RankAddress> exchange_addresses(c10d::Store& store, const DistEnv& env, const std::string& backend, const RankAddress& me);

}  // namespace vr::distributed
