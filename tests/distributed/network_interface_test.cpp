// The address a rank advertises, and the loopback-in-a-multi-host-job check, on made-up hosts (no network needed).
#include <gtest/gtest.h>

#include "distributed/address_exchange.h"
#include "vr/core/error.h"
#include "vr/distributed/network_interface.h"

namespace distributed_network_interface_test {

using vr::distributed::AddressInputs;
using vr::distributed::NetInterface;
using vr::distributed::RankAddress;

AddressInputs debian_host() {
  AddressInputs in;
  in.backend = "gloo";
  in.hostname = "n1";
  in.hostname_addresses = {"127.0.1.1"};
  in.interfaces = {{"lo", "127.0.0.1", true}, {"docker0", "172.17.0.1", false}, {"eth0", "10.0.0.2", false}};
  return in;
}

TEST(NetworkInterface, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1", "127.0.1.1", "::1", "::ffff:127.0.0.1", "localhost"})
    EXPECT_TRUE(vr::distributed::is_loopback_address(a)) << a;
  for (const char* a : {"10.0.0.2", "1.127.0.0", "::2", "172.17.0.1"})
    EXPECT_FALSE(vr::distributed::is_loopback_address(a)) << a;
}

TEST(NetworkInterface, GlooPicksTheIfnameElseLoopbackMasterElseTheHostName) {
  AddressInputs in = debian_host();
  auto a = vr::distributed::pick_advertised(in);
  EXPECT_EQ(a.address, "127.0.1.1");
  EXPECT_EQ(a.how, "host name 'n1' resolves to it");
  in.socket_ifname = "eth0";
  a = vr::distributed::pick_advertised(in);
  EXPECT_EQ(a.address, "10.0.0.2");
  EXPECT_EQ(a.interface, "eth0");
  EXPECT_EQ(a.how, "GLOO_SOCKET_IFNAME=eth0");
  in.socket_ifname = "";
  in.master_is_loopback = true;
  EXPECT_EQ(vr::distributed::pick_advertised(in).address, "127.0.0.1");
  in.master_is_loopback = false;
  in.hostname_addresses.clear();  // unresolvable host name: c10d falls back to loopback
  EXPECT_EQ(vr::distributed::pick_advertised(in).address, "127.0.0.1");
}

TEST(NetworkInterface, UnknownIfnameFailsListingTheInterfaces) {
  AddressInputs in = debian_host();
  in.socket_ifname = "ib0";
  try {
    vr::distributed::pick_advertised(in);
    FAIL() << "no throw";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("GLOO_SOCKET_IFNAME=ib0 names no interface"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("eth0 10.0.0.2"), std::string::npos) << e.what();
  }
}

TEST(NetworkInterface, NcclFollowsItsOwnRules) {
  AddressInputs in = debian_host();
  in.backend = "nccl";
  EXPECT_EQ(vr::distributed::pick_advertised(in).interface, "eth0");  // not docker*, not lo*
  in.socket_ifname = "=lo";
  EXPECT_EQ(vr::distributed::pick_advertised(in).address, "127.0.0.1");
  in.socket_ifname = "^eth,lo";
  EXPECT_EQ(vr::distributed::pick_advertised(in).interface, "docker0");
  in.socket_ifname = "doc";
  EXPECT_EQ(vr::distributed::pick_advertised(in).interface, "docker0");
}

TEST(NetworkInterface, LoopbackIsAProblemOnlyAcrossHosts) {
  RankAddress r0{0, "127.0.1.1", "lo", "host name 'n0' resolves to it", "n0", "boot-a/net:[1]", false, "eth0 10.0.0.1"};
  RankAddress r1{1, "127.0.1.1", "lo", "host name 'n0' resolves to it", "n0", "boot-a/net:[1]", false, ""};
  EXPECT_EQ(vr::distributed::loopback_problem({r0, r1}), "") << "one host: loopback works";
  r1.host = "n1";
  r1.host_id = "boot-b/net:[1]";
  r1.address = "10.0.0.2";
  const std::string p = vr::distributed::loopback_problem({r0, r1});
  EXPECT_NE(p.find("the ranks run on 2 hosts, but rank 0 (127.0.1.1 on host n0"), std::string::npos) << p;
  EXPECT_NE(p.find("its interface towards MASTER_ADDR: eth0 10.0.0.1"), std::string::npos) << p;
  EXPECT_EQ(p.find("rank 1 ("), std::string::npos) << p;
  r0.address = "10.0.0.1";
  EXPECT_EQ(vr::distributed::loopback_problem({r0, r1}), "");
}

}  // namespace distributed_network_interface_test
