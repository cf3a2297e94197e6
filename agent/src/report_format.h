// Human and JSON renderings of a summary, for `portwatch-agent snapshot`.
#pragma once

#include <string>

#include "portwatch/model.h"

namespace portwatch::agent {

std::string SummaryToJson(const std::string& hostname, const SocketSummary& s);
std::string SummaryToTable(const std::string& hostname, const SocketSummary& s);

}  // namespace portwatch::agent
