// Human and JSON renderings of a report, for `portwatch-agent snapshot`.
#pragma once

#include <string>

#include "portwatch/model.h"

namespace portwatch::agent {

std::string ReportToJson(const std::string& hostname, const Report& r);
std::string ReportToTable(const std::string& hostname, const Report& r);

}  // namespace portwatch::agent
