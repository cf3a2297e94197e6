// The ingest path on arbitrary bytes: parse an AgentMessage as gRPC would, validate and convert
// its hello or report as the collector does, and check that what validation accepts converts
// back to a wire message that is accepted again (what the collector stores must stay readable).
#include <cstdint>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "portwatch/wire.h"

// protobuf logs every string that is not UTF-8; the parse failing is the behaviour under test.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portwatch::v1::AgentMessage msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (msg.has_hello()) {
    portwatch::WireNotes notes;
    (void)portwatch::FromProto(msg.hello(), &notes);
  }
  if (msg.has_report()) {
    portwatch::WireNotes notes;
    auto r = portwatch::FromProto(msg.report(), &notes);
    if (!r.ok()) return 0;
    portwatch::v1::Report again;
    portwatch::ToProto(*r, &again);
    std::string bytes;
    if (!again.SerializeToString(&bytes)) std::abort();
    portwatch::v1::Report parsed;
    if (!parsed.ParseFromString(bytes)) std::abort();
    if (!portwatch::FromProto(parsed).ok()) std::abort();
  }
  return 0;
}
