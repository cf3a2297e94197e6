#include "src/recovery.h"

#include <cstdio>

#include "portwatch/wire.h"

namespace portwatch::collector {

Expected<size_t> RestoreFleet(Store& store, FleetState& fleet) {
  auto hosts = store.LoadHosts();
  if (!hosts.ok()) return hosts.status();
  for (StoredHost& s : *hosts) {
    HostView v;
    v.host = s.host;
    v.hello = std::move(s.hello);
    v.last_seen_unix_ms = s.last_seen_unix_ms;
    v.reports_total = s.reports_total;
    v.reports_duplicate_total = s.duplicates_total;
    v.agent_reports_dropped_total = s.agent_dropped_total;
    if (s.has_report) {
      v1::Report wire;
      Expected<Report> report = Status::Error("not a portwatch.v1.Report");
      if (wire.ParseFromString(s.last_payload)) report = FromProto(wire);
      if (report.ok()) {
        v.has_report = true;
        v.last_report = std::move(*report);
        v.last_report.instance_id.clear();
      } else {
        std::fprintf(stderr,
                     "portwatch-collector: the stored latest report of '%s' cannot be read (%s); "
                     "the host is listed without it until it reports again\n",
                     s.host.c_str(), report.error().c_str());
      }
    }
    fleet.Restore(std::move(v));
  }
  return hosts->size();
}

}  // namespace portwatch::collector
