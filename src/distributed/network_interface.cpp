#include "vr/distributed/network_interface.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "vr/core/error.h"

namespace vr::distributed {

namespace {

std::string numeric(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

// An address a socket can bind to here: gloo picks the first such address of the host name (c10d's
// doesHostnameResolveToUsableAddress and gloo's lookupAddrForHostname both try bind()).
bool bindable(const std::string& address) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(address.c_str(), "0", &hints, &res) != 0 || !res) return false;
  const int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  const bool ok = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0;
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return ok;
}

const NetInterface* interface_with(const std::vector<NetInterface>& ifs, const std::string& address) {
  for (const auto& i : ifs)
    if (i.address == address) return &i;
  return nullptr;
}

// NCCL_SOCKET_IFNAME: comma-separated prefixes; "=name" matches exactly; a leading "^" excludes the list.
const NetInterface* nccl_match(const std::vector<NetInterface>& ifs, const std::string& spec) {
  std::string list = spec;
  const bool exclude = !list.empty() && list[0] == '^';
  if (exclude) list = list.substr(1);
  const bool exact = !list.empty() && list[0] == '=';
  if (exact) list = list.substr(1);
  std::vector<std::string> names;
  for (size_t at = 0; at <= list.size();) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    if (comma > at) names.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  for (const auto& i : ifs) {
    bool hit = false;
    for (const auto& n : names) hit = hit || (exact ? i.name == n : i.name.rfind(n, 0) == 0);
    if (hit != exclude) return &i;
  }
  return nullptr;
}

}  // namespace

std::vector<NetInterface> list_interfaces() {
  std::vector<NetInterface> v4, v6;
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return {};
  for (ifaddrs* i = all; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    NetInterface n{i->ifa_name, numeric(i->ifa_addr), (i->ifa_flags & IFF_LOOPBACK) != 0};
    if (family == AF_INET6 && n.address.rfind("fe80:", 0) == 0) continue;  // link-local: needs a scope, unused here
    (family == AF_INET ? v4 : v6).push_back(n);
  }
  freeifaddrs(all);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

bool is_loopback_address(const std::string& a) {
  return a == "localhost" || a.rfind("127.", 0) == 0 || a == "::1" || a.rfind("::ffff:127.", 0) == 0;
}

std::vector<std::string> resolve_host(const std::string& host) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  std::vector<std::string> out;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* r = res; r; r = r->ai_next) {
    std::string a = numeric(r->ai_addr);
    if (!a.empty() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeaddrinfo(res);
  return out;
}

std::string source_address_towards(const std::string& address) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(address.c_str(), "9", &hints, &res) != 0 || !res) return {};
  std::string out;
  const int fd = socket(res->ai_family, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {  // UDP: picks the route, sends nothing
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) out = numeric(reinterpret_cast<sockaddr*>(&local));
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return out;
}

std::string host_name() {
  char buf[256] = {0};
  return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string();
}

std::string describe_interfaces(const std::vector<NetInterface>& ifs) {
  std::string s = "interfaces:";
  for (size_t i = 0; i < ifs.size(); ++i) s += fmt::format("{} {} {}", i ? "," : "", ifs[i].name, ifs[i].address);
  return ifs.empty() ? "no interface with an address" : s;
}

Advertised pick_advertised(const AddressInputs& in) {
  const std::string var = in.backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME";
  if (!in.socket_ifname.empty()) {
    const NetInterface* i = nullptr;
    if (in.backend == "nccl") {
      i = nccl_match(in.interfaces, in.socket_ifname);
    } else {
      const std::string first = in.socket_ifname.substr(0, in.socket_ifname.find(','));
      for (const auto& c : in.interfaces)
        if (!i && c.name == first) i = &c;
    }
    VR_CHECK(i, "{}={} names no interface with an address on this host ({})", var, in.socket_ifname,
             describe_interfaces(in.interfaces));
    return {i->address, i->name, fmt::format("{}={}", var, in.socket_ifname)};
  }
  if (in.backend == "nccl") {  // NCCL's own choice: not docker*, not lo*; else lo
    for (const auto& c : in.interfaces)
      if (c.name.rfind("docker", 0) != 0 && c.name.rfind("lo", 0) != 0)
        return {c.address, c.name, "NCCL's default (the first interface not docker* or lo*)"};
    for (const auto& c : in.interfaces)
      if (c.loopback) return {c.address, c.name, "NCCL's fallback (no other interface)"};
    return {"", "", "none: no interface with an address"};
  }
  if (in.master_is_loopback) {
    const NetInterface* i = interface_with(in.interfaces, "127.0.0.1");
    return {"127.0.0.1", i ? i->name : "", "MASTER_ADDR is a loopback address (one host)"};
  }
  if (in.hostname_addresses.empty()) {
    const NetInterface* i = interface_with(in.interfaces, "127.0.0.1");
    return {"127.0.0.1", i ? i->name : "",
            fmt::format("host name '{}' does not resolve to a usable address: c10d's loopback fallback", in.hostname)};
  }
  const std::string& a = in.hostname_addresses.front();
  const NetInterface* i = interface_with(in.interfaces, a);
  return {a, i ? i->name : "", fmt::format("host name '{}' resolves to it", in.hostname)};
}

AddressInputs address_inputs_from_env(const std::string& backend, const std::string& master_addr) {
  AddressInputs in;
  in.backend = backend;
  const char* v = std::getenv(backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME");
  in.socket_ifname = v ? v : "";
  in.master_is_loopback = master_addr == "localhost" || is_loopback_address(master_addr);
  in.hostname = host_name();
  std::vector<std::string> later;
  for (const std::string& a : resolve_host(in.hostname)) (bindable(a) ? in.hostname_addresses : later).push_back(a);
  // Unbindable addresses are not what gloo picks; kept last only to describe them.
  if (!in.hostname_addresses.empty()) in.hostname_addresses.insert(in.hostname_addresses.end(), later.begin(), later.end());
  in.interfaces = list_interfaces();
  return in;
}

NetInterface interface_towards(const std::string& master_addr) {
  const std::vector<std::string> master = resolve_host(master_addr);
  const std::string src = master.empty() ? std::string() : source_address_towards(master.front());
  if (src.empty() || is_loopback_address(src)) return {};
  const auto ifs = list_interfaces();
  const NetInterface* i = interface_with(ifs, src);
  return i ? *i : NetInterface{};
}

std::string loopback_hint(const std::string& backend, const std::string& master_addr, const std::string& hostname) {
  const std::string var = backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME";
  const NetInterface i = interface_towards(master_addr);
  const std::string route =
      !i.name.empty()
          ? fmt::format("{}={} ({} has {}, the address that routes to MASTER_ADDR {})", var, i.name, i.name,
                        i.address, master_addr)
          : fmt::format("{}=<the interface the nodes reach each other on> ({})", var,
                        describe_interfaces(list_interfaces()));
  return fmt::format("set {}, or make the host name '{}' resolve to the node's address on that network (/etc/hosts, "
                     "DNS) instead of a loopback address",
                     route, hostname);
}

}  // namespace vr::distributed
