#include "vr/distributed/rendezvous.h"

#include <cstdlib>

#include <fmt/format.h>

#include "vr/core/error.h"

namespace vr::distributed {

namespace {

const char* kVars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                       "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODEID",
                       "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_JOB_ID", "SLURM_NTASKS_PER_NODE",
                       "SLURM_TASKS_PER_NODE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                       "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK",
                       "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_RUN_ID"};

const std::string* find(const EnvMap& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

int64_t to_int(const std::string& key, const std::string& v) {
  size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  VR_CHECK(used == v.size() && used > 0, "environment variable {}={} is not an integer", key, v);
  return x;
}

int64_t int_or(const EnvMap& env, const std::string& key, int64_t fallback) {
  const std::string* v = find(env, key);
  return v ? to_int(key, *v) : fallback;
}

// Splits at commas that are not inside [...].
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

EnvMap process_env() {
  EnvMap env;
  for (const char* k : kVars)
    if (const char* v = std::getenv(k)) env[k] = v;
  return env;
}

std::vector<std::string> expand_slurm_nodelist(const std::string& list) {
  std::vector<std::string> hosts;
  for (const std::string& item : split_top(list)) {
    size_t open = item.find('[');
    if (open == std::string::npos) {
      hosts.push_back(item);
      continue;
    }
    size_t close = item.find(']', open);
    VR_CHECK(close != std::string::npos, "SLURM_JOB_NODELIST '{}': unclosed '[' in '{}'", list, item);
    const std::string prefix = item.substr(0, open), suffix = item.substr(close + 1);
    // One bracket group per host name (Slurm's common form); a second group in the suffix is expanded recursively.
    for (const std::string& range : split_top(item.substr(open + 1, close - open - 1))) {
      size_t dash = range.find('-');
      std::string lo = range.substr(0, dash), hi = dash == std::string::npos ? lo : range.substr(dash + 1);
      int64_t a = to_int("SLURM_JOB_NODELIST", lo), b = to_int("SLURM_JOB_NODELIST", hi);
      VR_CHECK(a <= b, "SLURM_JOB_NODELIST '{}': descending range '{}'", list, range);
      for (int64_t i = a; i <= b; ++i) {
        std::string num = std::to_string(i);
        if (num.size() < lo.size()) num = std::string(lo.size() - num.size(), '0') + num;  // node[01-03]
        for (const std::string& tail : suffix.find('[') != std::string::npos ? expand_slurm_nodelist(suffix)
                                                                             : std::vector<std::string>{suffix})
          hosts.push_back(prefix + num + tail);
      }
    }
  }
  return hosts;
}

std::vector<int64_t> expand_slurm_tasks_per_node(const std::string& spec) {
  std::vector<int64_t> out;
  for (const std::string& item : split_top(spec)) {
    size_t x = item.find("(x");
    int64_t n = to_int("SLURM_TASKS_PER_NODE", item.substr(0, x));
    int64_t times = 1;
    if (x != std::string::npos) {
      VR_CHECK(item.back() == ')', "SLURM_TASKS_PER_NODE '{}': bad item '{}'", spec, item);
      times = to_int("SLURM_TASKS_PER_NODE", item.substr(x + 2, item.size() - x - 3));
    }
    for (int64_t i = 0; i < times; ++i) out.push_back(n);
  }
  return out;
}

DistEnv read_dist_env(const EnvMap& env, const DistOverrides& o) {
  DistEnv d;
  if (find(env, "RANK") && find(env, "WORLD_SIZE")) {
    d.source = "torchrun";
    d.rank = int_or(env, "RANK", 0);
    d.world_size = int_or(env, "WORLD_SIZE", 1);
    d.local_rank = int_or(env, "LOCAL_RANK", d.rank);
    d.local_world_size = int_or(env, "LOCAL_WORLD_SIZE", d.world_size);
    d.node_rank = int_or(env, "GROUP_RANK", d.rank / std::max<int64_t>(1, d.local_world_size));
    const std::string* agent = find(env, "TORCHELASTIC_USE_AGENT_STORE");
    d.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
    if (d.agent_store)
      d.store_prefix = fmt::format("vr/{}/{}", find(env, "TORCHELASTIC_RUN_ID") ? *find(env, "TORCHELASTIC_RUN_ID") : "",
                                   int_or(env, "TORCHELASTIC_RESTART_COUNT", 0));
  } else if (find(env, "SLURM_PROCID") && find(env, "SLURM_NTASKS")) {
    d.source = "slurm";
    d.rank = int_or(env, "SLURM_PROCID", 0);
    d.world_size = int_or(env, "SLURM_NTASKS", 1);
    d.local_rank = int_or(env, "SLURM_LOCALID", 0);
    d.node_rank = int_or(env, "SLURM_NODEID", 0);
    if (const std::string* per = find(env, "SLURM_NTASKS_PER_NODE")) d.local_world_size = to_int("SLURM_NTASKS_PER_NODE", *per);
    else if (const std::string* tpn = find(env, "SLURM_TASKS_PER_NODE")) {
      auto counts = expand_slurm_tasks_per_node(*tpn);
      d.local_world_size = d.node_rank < static_cast<int64_t>(counts.size()) ? counts[d.node_rank] : counts.front();
    } else d.local_world_size = d.world_size;
    const std::string* list = find(env, "SLURM_JOB_NODELIST");
    if (!list) list = find(env, "SLURM_NODELIST");
    if (!find(env, "MASTER_ADDR") && list) {
      auto hosts = expand_slurm_nodelist(*list);
      VR_CHECK(!hosts.empty(), "SLURM_JOB_NODELIST '{}' names no host", *list);
      d.master_addr = hosts.front();
    }
    if (!find(env, "MASTER_PORT"))
      d.master_port = find(env, "SLURM_JOB_ID") ? 15000 + int_or(env, "SLURM_JOB_ID", 0) % 10000 : 12910;
  } else if (find(env, "OMPI_COMM_WORLD_RANK") && find(env, "OMPI_COMM_WORLD_SIZE")) {
    d.source = "openmpi";
    d.rank = int_or(env, "OMPI_COMM_WORLD_RANK", 0);
    d.world_size = int_or(env, "OMPI_COMM_WORLD_SIZE", 1);
    d.local_rank = int_or(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0);
    d.local_world_size = int_or(env, "OMPI_COMM_WORLD_LOCAL_SIZE", d.world_size);
    d.node_rank = int_or(env, "OMPI_COMM_WORLD_NODE_RANK", d.rank / std::max<int64_t>(1, d.local_world_size));
  }
  if (const std::string* a = find(env, "MASTER_ADDR")) d.master_addr = *a;
  if (find(env, "MASTER_PORT")) d.master_port = int_or(env, "MASTER_PORT", d.master_port);

  if (o.world_size >= 0 || o.rank >= 0) d.source = "config";
  if (o.world_size >= 0) d.world_size = o.world_size;
  if (o.rank >= 0) d.rank = o.rank;
  if (o.local_rank >= 0) d.local_rank = o.local_rank;
  if (!o.master_addr.empty()) d.master_addr = o.master_addr;
  if (o.master_port >= 0) d.master_port = o.master_port;

  VR_CHECK(d.world_size >= 1, "world size must be >= 1, got {} (from {})", d.world_size, d.source);
  VR_CHECK(d.rank >= 0 && d.rank < d.world_size, "rank {} is outside world size {} (from {})", d.rank,
           d.world_size, d.source);
  VR_CHECK(d.local_rank >= 0, "local rank must be >= 0, got {} (from {})", d.local_rank, d.source);
  d.local_world_size = std::max<int64_t>(1, std::min(d.local_world_size, d.world_size));
  VR_CHECK(d.master_port > 0 && d.master_port < 65536, "master port {} is outside 1..65535 (from {})",
           d.master_port, d.source);
  return d;
}

}  // namespace vr::distributed
