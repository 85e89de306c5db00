// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vr::test {

inline int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  close(s);
  return port;
}

}  // namespace vr::test
