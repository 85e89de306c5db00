#include "address_exchange.h"

#include <unistd.h>

#include <fstream>
#include <set>

#include <fmt/format.h>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "vr/core/error.h"

namespace vr::distributed {

namespace {

std::string encode(const RankAddress& a) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}", a.address, a.interface, a.how, a.host, a.host_id,
                     a.master_remote ? 1 : 0, a.route);
}

RankAddress decode(int64_t rank, const std::string& s) {
  std::vector<std::string> f;
  for (size_t at = 0;;) {
    const size_t nl = s.find('\n', at);
    f.push_back(s.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  f.resize(7);
  return {rank, f[0], f[1], f[2], f[3], f[4], f[5] == "1", f[6]};
}

std::string rank_list(const std::vector<const RankAddress*>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += fmt::format("{}rank {} ({} on host {}: {}{})", i ? ", " : "", v[i]->rank,
                     v[i]->address.empty() ? "no address" : v[i]->address, v[i]->host, v[i]->how,
                     v[i]->route.empty() ? "" : "; its interface towards MASTER_ADDR: " + v[i]->route);
  return s;
}

}  // namespace

RankAddress this_rank_address(const DistEnv& env, const std::string& backend) {
  VR_CHECK(!resolve_host(env.master_addr).empty(), "rank {}: MASTER_ADDR '{}' does not resolve on host '{}' (a typo, "
           "or a name only the other nodes know?)", env.rank, env.master_addr, host_name());
  const AddressInputs in = address_inputs_from_env(backend, env.master_addr);
  const Advertised adv = pick_advertised(in);
  RankAddress me{env.rank, adv.address, adv.interface, adv.how, in.hostname, host_identity(),
                 !master_is_local(env.master_addr, in.interfaces), ""};
  const NetInterface towards = interface_towards(env.master_addr);
  if (!towards.name.empty()) me.route = towards.name + " " + towards.address;
  return me;
}

std::string describe_addresses(const std::vector<RankAddress>& all) {
  std::string s;
  for (size_t i = 0; i < all.size(); ++i)
    s += fmt::format("{}rank {} {} ({})", i ? ", " : "", all[i].rank, all[i].address,
                     all[i].interface.empty() ? "?" : all[i].interface);
  return s;
}

std::string host_identity() {
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  char ns[128] = {0};
  const ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
  return boot + "/" + (n > 0 ? std::string(ns, static_cast<size_t>(n)) : host_name());
}

bool master_is_local(const std::string& master_addr, const std::vector<NetInterface>& ifs) {
  for (const std::string& a : resolve_host(master_addr)) {
    if (is_loopback_address(a)) return true;
    for (const auto& i : ifs)
      if (i.address == a) return true;
  }
  return false;
}

std::string loopback_problem(const std::vector<RankAddress>& all) {
  std::set<std::string> hosts;
  std::vector<const RankAddress*> loop;
  for (const auto& a : all) {
    hosts.insert(a.host_id);
    if (a.address.empty() || is_loopback_address(a.address)) loop.push_back(&a);
  }
  if (hosts.size() < 2 || loop.empty()) return {};
  return fmt::format("the ranks run on {} hosts, but {} advertise{} a loopback address: a peer on another host "
                     "cannot connect to it (it would reach itself)",
                     hosts.size(), rank_list(loop), loop.size() == 1 ? "s" : "");
}

std::string describe_choice(const std::string& backend, const RankAddress& me, const std::string& master_addr) {
  return fmt::format("network: {} advertises {} on interface {} ({}); MASTER_ADDR {} is {}", backend,
                     me.address.empty() ? "no address" : me.address, me.interface.empty() ? "?" : me.interface, me.how,
                     master_addr, me.master_remote ? "on another host" : "on this host");
}

std::vector<RankAddress> exchange_addresses(c10d::Store& store, const DistEnv& env, const std::string& backend, const RankAddress& me) {
  const std::string prefix = env.store_prefix + "/net/";
  const std::string mine = encode(me);
  store.set(prefix + std::to_string(env.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
  // Published first, so that the peers can name this rank in their own message.
  VR_CHECK(!(me.master_remote && (me.address.empty() || is_loopback_address(me.address))),
           "rank {}: this rank would advertise {} to its peers ({}), but MASTER_ADDR {} is on another host, so they "
           "could not connect back: {}",
           env.rank, me.address.empty() ? "no address" : me.address, me.how, env.master_addr,
           loopback_hint(backend, env.master_addr, me.host));
  std::vector<RankAddress> all;
  for (int64_t r = 0; r < env.world_size; ++r) {
    const std::vector<uint8_t> v = store.get(prefix + std::to_string(r));
    all.push_back(decode(r, std::string(v.begin(), v.end())));
  }
  const std::string problem = loopback_problem(all);
  VR_CHECK(problem.empty(), "rank {}: {}. On each node named: set {} to the interface the nodes reach each other "
           "on, or make the host name resolve to the node's address on that network (/etc/hosts, DNS) instead of a "
           "loopback address",
           env.rank, problem, backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME");
  return all;
}

}  // namespace vr::distributed
