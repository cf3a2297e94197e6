// The agent's delivery settings (spool and source ports): their flags, their checks, and opening
// the spool, kept out of main so that main reads as the collection loop.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "portwatch/status.h"
#include "src/spool.h"

namespace portwatch::agent {

/// The flags as given.
struct DeliveryFlags {
  std::string spool_dir;
  std::string spool_max_bytes = "64MiB";
  std::string spool_max_age = "3d";
  std::string source_ports;
};

/// Adds --spool-dir, --spool-max-bytes, --spool-max-age and, where the transport can bind its
/// source port (not on Windows), --source-ports to `run`.
void AddDeliveryFlags(CLI::App* run, DeliveryFlags* flags, bool source_ports = true);

struct Delivery {
  std::unique_ptr<Spool> spool;
  std::vector<uint16_t> source_ports;
};

/// Checks the flags, warns about source ports the kernel may hand out to others, and opens the
/// spool (memory-only without --spool-dir, holding at most `max_pending` reports). Fails, for an
/// exit with status 2, when a value is bad or the spool directory is unusable.
Expected<Delivery> OpenDelivery(const DeliveryFlags& flags, size_t max_pending);

}  // namespace portwatch::agent
