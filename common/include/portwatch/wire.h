// Conversion between the report model and the portwatch.v1 protobuf messages. This is the only
// place that knows both; everything else works on the model.
#pragma once

#include "portwatch/model.h"
#include "portwatch/status.h"
#include "portwatch/v1/portwatch.pb.h"

namespace portwatch {

void ToProto(const Report& report, v1::Report* out);
void ToProto(const AgentHello& hello, v1::Hello* out);
void ToProto(const ConfigSnapshot& config, v1::ConfigSnapshot* out);

/// Converts and validates a received report. A 0-0 ephemeral range means the agent could not
/// read it; then no port use may be claimed. Fails, with a message naming the field, on values no
/// real host can produce (a range with low > high, more ports in use than usable, unknown states,
/// sequence 0, ...), so that nothing absurd reaches fleet state.
Expected<Report> FromProto(const v1::Report& in);
Expected<AgentHello> FromProto(const v1::Hello& in);

}  // namespace portwatch
