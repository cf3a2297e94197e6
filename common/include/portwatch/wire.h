// Conversion between the report model and the portwatch.v1 protobuf messages. This is the only
// place that knows both; everything else works on the model.
#pragma once

#include "portwatch/model.h"
#include "portwatch/status.h"
#include "portwatch/v1/portwatch.pb.h"

namespace portwatch {

/// What FromProto changed instead of refusing: text fields (process names, reasons, values) are
/// bounded and sanitized (portwatch/text.h) one by one, so a hostile string costs only itself.
struct WireNotes {
  uint32_t strings_truncated = 0;  ///< cut to their bound
  uint32_t strings_repaired = 0;   ///< invalid UTF-8 replaced or control characters escaped
};

/// Converts to the wire. Text fields are bounded and sanitized here too, so what is serialized
/// always parses again (protobuf refuses a string field that is not UTF-8).
void ToProto(const Report& report, v1::Report* out);
void ToProto(const AgentHello& hello, v1::Hello* out);
void ToProto(const ConfigSnapshot& config, v1::ConfigSnapshot* out);

/// Converts and validates a received report. A 0-0 ephemeral range means the agent could not
/// read it; then no port use may be claimed. Fails, with a message naming the field, on values no
/// real host can produce (a range with low > high, more ports in use than usable, unknown states,
/// sequence 0, ...), so that nothing absurd reaches fleet state. Over-long or malformed text is
/// not a reason to refuse: it is truncated or repaired, and counted in `notes`.
Expected<Report> FromProto(const v1::Report& in, WireNotes* notes = nullptr);
Expected<AgentHello> FromProto(const v1::Hello& in, WireNotes* notes = nullptr);

/// Converts and validates one endpoint (a known family, 4 or 16 address bytes, a 16-bit port);
/// the error names it as `what`.
Status EndpointFromProto(const v1::Endpoint& in, const char* what, Endpoint* out);

}  // namespace portwatch
