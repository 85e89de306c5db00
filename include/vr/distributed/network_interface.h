// Which address a rank advertises to its peers, and whether that address can work: the first thing that goes
// wrong on a real cluster is a host name that resolves to a loopback address (Debian and Ubuntu map it to
// 127.0.1.1 by default), so Gloo advertises 127.0.1.1 to a peer on another host, which then connects to itself
// until the init timeout. Read before the rendezvous, so that mistake fails at once with a hint instead.
#pragma once
#include <string>
#include <vector>

namespace vr::distributed {

struct NetInterface {
  std::string name, address;  // numeric address (IPv4 or IPv6)
  bool loopback = false;
};

// The addresses of this host's interfaces that are up (getifaddrs), IPv4 before IPv6.
std::vector<NetInterface> list_interfaces();
// 127.0.0.0/8, ::1 and ::ffff:127.x.y.z; "localhost" too (a name, for convenience).
bool is_loopback_address(const std::string& address);
// Numeric addresses of `host` in getaddrinfo's order (a numeric host gives itself); empty when it does not resolve.
std::vector<std::string> resolve_host(const std::string& host);
// The local address the kernel would send from towards `address` (a connected UDP socket, nothing is sent);
// empty when there is no route.
std::string source_address_towards(const std::string& address);
// The interface (and its address) that routes to `master_addr`, when that is not loopback: what
// *_SOCKET_IFNAME should name on a node whose host name resolves to loopback. Empty name when unknown.
NetInterface interface_towards(const std::string& master_addr);
// gethostname(), "" when unavailable.
std::string host_name();

// The address this rank's backend will advertise, and why that one.
struct Advertised {
  std::string address;    // numeric; "" when none could be found
  std::string interface;  // the interface holding `address`, "" when no interface holds it
  std::string how;        // "GLOO_SOCKET_IFNAME=eth0", "host name 'n1' resolves to it", ...
};

// What picks the address, read from the environment by `advertised_address` and given explicitly in tests.
struct AddressInputs {
  std::string backend;      // gloo | nccl
  std::string socket_ifname;  // GLOO_SOCKET_IFNAME or NCCL_SOCKET_IFNAME (by backend); "" when unset
  bool master_is_loopback = false;
  std::string hostname;
  std::vector<std::string> hostname_addresses;  // what `hostname` resolves to, bindable ones first
  std::vector<NetInterface> interfaces;
};

// Gloo (as c10d does): GLOO_SOCKET_IFNAME's interface; 127.0.0.1 when MASTER_ADDR is loopback; else the first
// address the host name resolves to. NCCL: NCCL_SOCKET_IFNAME (a prefix list, "=name" exact, "^x" excluded),
// else its own default: the first interface that is not docker* or lo*, else lo. Throws vr::Error when
// *_SOCKET_IFNAME names no interface with an address (listing the interfaces).
Advertised pick_advertised(const AddressInputs& in);
AddressInputs address_inputs_from_env(const std::string& backend, const std::string& master_addr);

// The fix for a rank that advertises a loopback address to peers on other hosts: the variable to set (with the
// interface that routes to MASTER_ADDR when known), or the host name's mapping.
std::string loopback_hint(const std::string& backend, const std::string& master_addr, const std::string& hostname);

// "interfaces: lo 127.0.0.1, eth0 10.0.0.2".
std::string describe_interfaces(const std::vector<NetInterface>& ifs);

}  // namespace vr::distributed
