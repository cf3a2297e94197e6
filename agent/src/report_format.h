// Human and JSON renderings of a report, for `portwatch-agent snapshot` and the file sinks.
#pragma once

#include <string>

#include "portwatch/model.h"

namespace portwatch::agent {

/// The report as indented JSON, for people and scripts (`snapshot --json`, `run --output`).
std::string ReportToJson(const std::string& hostname, const Report& r);
/// The report as one JSON line with everything needed to rebuild it: what ReportToJson shows,
/// plus its sequence, collection time, the agent's health and the agent's hello ("agent"). One
/// line per report makes `run --output-log` a JSON Lines file.
std::string ReportToJsonLine(const AgentHello& hello, const Report& r);
std::string ReportToTable(const std::string& hostname, const Report& r);

}  // namespace portwatch::agent
