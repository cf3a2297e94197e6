// Human and JSON renderings of a summary, for `portwatch-agent snapshot`.
#pragma once

#include <string>
#include <vector>

#include "portwatch/model.h"

namespace portwatch::agent {

std::string SummaryToJson(const std::string& hostname, const SocketSummary& s);
std::string SummaryToTable(const std::string& hostname, const SocketSummary& s);

/// A whole report as JSON: the summary (as SummaryToJson) plus the top destinations, processes
/// and listeners, the config snapshot (if any), the event counters, and `notes` (sentences on
/// what this report could not see, e.g. an unknown port range or an unreadable event log).
std::string ReportToJson(const std::string& hostname, const Report& r,
                         const std::vector<std::string>& notes);

}  // namespace portwatch::agent
