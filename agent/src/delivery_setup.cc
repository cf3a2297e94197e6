#include "src/delivery_setup.h"
#include "src/log.h"

#include <cstdio>

#include "collect/tcp_config.h"
#include "portwatch/files.h"
#include "portwatch/units.h"
#include "src/source_port.h"

namespace portwatch::agent {

void AddDeliveryFlags(CLI::App* run, DeliveryFlags* flags, bool source_ports) {
  run->add_option("--spool-dir", flags->spool_dir,
                  "Keep reports in this directory until the collector acknowledges them; they "
                  "survive agent restarts (one directory per agent). Without it, memory only");
  run->add_option("--spool-max-bytes", flags->spool_max_bytes,
                  "Bound on the spool, e.g. 64MiB; beyond it the oldest reports are dropped and "
                  "counted")
      ->capture_default_str();
  run->add_option("--spool-max-age", flags->spool_max_age,
                  "Reports older than this are dropped unsent, e.g. 3d")
      ->capture_default_str();
  if (!source_ports) return;
  run->add_option("--source-ports", flags->source_ports,
                  "Connect from one of these local ports, e.g. 20000-20003: outside the ephemeral "
                  "range or in ip_local_reserved_ports, so the agent reconnects even when the "
                  "host's ephemeral ports are exhausted");
}

Expected<Delivery> OpenDelivery(const DeliveryFlags& flags, size_t max_pending) {
  SpoolOptions opts;
  opts.dir = flags.spool_dir;
  opts.max_memory_records = max_pending;
  auto max_bytes = ParseByteSize(flags.spool_max_bytes, "--spool-max-bytes");
  if (!max_bytes.ok()) return max_bytes.status();
  if (*max_bytes < (16u << 10)) {
    return Status::Error("--spool-max-bytes " + flags.spool_max_bytes +
                         " is too small; give at least 16KiB");
  }
  opts.max_bytes = *max_bytes;
  auto max_age = ParseDurationMs(flags.spool_max_age, "--spool-max-age");
  if (!max_age.ok()) return max_age.status();
  if (*max_age < 1000) {
    return Status::Error("--spool-max-age " + flags.spool_max_age +
                         " is too short; give 1s or more");
  }
  opts.max_age_ms = *max_age;

  Delivery d;
  if (!flags.source_ports.empty()) {
    auto ports = ParseSourcePorts(flags.source_ports);
    if (!ports.ok()) return ports.status();
    d.source_ports = std::move(*ports);
    if (auto ephemeral = ReadEphemeralPorts(); ephemeral.ok()) {
      for (const std::string& w : SourcePortWarnings(d.source_ports, *ephemeral)) {
        LogWarning(w);
      }
    }
  }
  auto spool = Spool::Open(std::move(opts), NowUnixMs());
  if (!spool.ok()) return spool.status();
  d.spool = std::move(*spool);
  if (flags.spool_dir.empty()) {
    LogWarning("no --spool-dir: unacknowledged reports are kept in memory only (at most " +
               std::to_string(max_pending) + ") and are lost if the agent stops");
  } else if (const SpoolStats s = d.spool->stats(); s.records > 0) {
    std::string from;
    for (const std::string& id : d.spool->WaitingInstances()) from += " " + id;
    LogInfo("spool '" + flags.spool_dir + "' holds " + std::to_string(s.records) +
            " unacknowledged reports (instances" + from + "); they are sent first");
  }
  return d;
}

}  // namespace portwatch::agent
