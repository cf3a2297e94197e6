// ingest_probe: a deliberately minimal Ingest client for tests. Unlike the agent it does not
// check its own configuration first, so tests can make it do what a misconfigured or hostile
// client would: connect without a certificate, with one from another CA, claim another host's
// name, or send a report no host can produce.
//
// Prints one line, "acked SEQ", "rejected SEQ: REASON" or "error CODE: MESSAGE", and exits 0
// only for "acked".
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/v1/portwatch.grpc.pb.h"

namespace v1 = portwatch::v1;

int main(int argc, char** argv) {
  CLI::App app{"Sends one hello and one report to a collector and prints the outcome"};
  std::string target, ca, cert, key, hostname = "probe", server_name;
  bool absurd = false, invalid_utf8 = false;
  int timeout_s = 10;
  // Hostile-input knobs: what a local user (process names) or a stolen certificate can send.
  uint64_t sequence = 1;
  int64_t collected_offset_ms = 0;
  bool collected_now = false;
  uint32_t in_use = 1;
  std::string process_name;
  size_t program_bytes = 0, unknown_field_bytes = 0, degraded_reason_bytes = 0;
  std::string instance = "probe-instance";
  int streams = 0;
  app.add_option("--target", target)->required();
  app.add_option("--ca", ca)->required();
  app.add_option("--cert", cert);
  app.add_option("--key", key);
  app.add_option("--hostname", hostname);
  app.add_option("--server-name", server_name);
  app.add_option("--timeout", timeout_s);
  app.add_flag("--absurd", absurd, "send a report with more ports in use than the range holds");
  app.add_option("--sequence", sequence, "the report's sequence number");
  app.add_option("--instance", instance, "the hello's instance id");
  app.add_option("--in-use", in_use, "ephemeral ports in use (of 100 usable)");
  app.add_flag("--collected-now", collected_now, "date the report now (default: 1 ms after 1970)");
  app.add_option("--collected-offset-ms", collected_offset_ms,
                 "with --collected-now: shift the report's date by this much");
  app.add_option("--process-name", process_name, "add a top process with this name");
  app.add_option("--program-bytes", program_bytes, "and a program path this long");
  app.add_option("--unknown-field-bytes", unknown_field_bytes,
                 "add an unknown field this long to the report");
  app.add_option("--degraded-reason-bytes", degraded_reason_bytes,
                 "send a degraded reason this long");
  app.add_option("--streams-without-hello", streams,
                 "open this many streams, send nothing, and print how each ended "
                 "(\"streams CODE COUNT\" lines)");
  app.add_flag("--invalid-utf8", invalid_utf8,
               "send a process name that is not UTF-8 (the message cannot be parsed)");
  int flood = 0;
  app.add_option("--flood", flood,
                 "after the hello, send this many reports (sequences from --sequence) as fast as "
                 "the stream takes them and wait for every ack (\"flood acked N in MS ms\")");
  CLI11_PARSE(app, argc, argv);

  // Only the CA is validated: a probe without a certificate must still be able to try.
  auto tls = portwatch::LoadTlsMaterial({ca, "", ""});
  if (!tls.ok()) {
    std::printf("error setup: %s\n", tls.error().c_str());
    return 2;
  }
  if (!cert.empty()) {
    auto c = portwatch::ReadFileLimited(cert, 1 << 20, "certificate");
    auto k = portwatch::ReadFileLimited(key, 1 << 20, "key");
    if (!c.ok() || !k.ok()) {
      std::printf("error setup: %s%s\n", c.error().c_str(), k.error().c_str());
      return 2;
    }
    tls->cert_pem = *c;
    tls->key_pem = *k;
  }
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  auto channel =
      grpc::CreateCustomChannel(target, portwatch::MakeChannelCredentials(*tls), args);
  auto stub = v1::Ingest::NewStub(channel);
  if (streams > 0) {
    // Separate channels: one HTTP/2 connection would queue streams beyond its concurrency limit.
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>>>
        calls;
    for (int i = 0; i < streams; ++i) {
      ctxs.push_back(std::make_unique<grpc::ClientContext>());
      ctxs.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
      calls.push_back(stub->Stream(ctxs.back().get()));
    }
    std::map<int, int> by_code;
    for (auto& call : calls) ++by_code[static_cast<int>(call->Finish().error_code())];
    for (const auto& [code, n] : by_code) std::printf("streams %d %d\n", code, n);
    return 0;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  auto stream = stub->Stream(&ctx);

  v1::AgentMessage hello;
  hello.mutable_hello()->set_hostname(hostname);
  hello.mutable_hello()->set_instance_id(instance);
  hello.mutable_hello()->set_os(v1::OS_KIND_LINUX);
  v1::AgentMessage report;
  v1::Report* r = report.mutable_report();
  r->set_sequence(sequence);
  r->set_collected_unix_ms(collected_now ? portwatch::NowUnixMs() + collected_offset_ms : 1);
  v1::SocketSummary* s = r->mutable_sockets();
  s->mutable_ephemeral_range()->set_low(50000);
  s->mutable_ephemeral_range()->set_high(50099);
  s->set_ephemeral_ports_usable(100);
  s->set_ephemeral_ports_in_use(absurd ? 5000 : in_use);
  v1::StateCount* c = s->add_states();
  c->set_family(v1::ADDRESS_FAMILY_IPV4);
  c->set_state(v1::TCP_STATE_ESTABLISHED);
  c->set_count(1);
  s->set_total_sockets(1);
  if (!process_name.empty() || program_bytes > 0 || invalid_utf8) {
    v1::ProcessUsage* p = r->add_top_processes();
    p->set_pid(4242);
    // protobuf only logs when it serializes a string that is not UTF-8; the receiver refuses it.
    p->set_name(invalid_utf8 ? std::string("bad\xFF\xFE") : process_name);
    p->set_program(std::string(program_bytes, 'A'));
  }
  if (degraded_reason_bytes > 0) {
    r->mutable_events()->set_degraded(true);
    r->mutable_events()->set_degraded_reason(std::string(degraded_reason_bytes, 'r'));
  }
  if (unknown_field_bytes > 0) {
    r->GetReflection()->MutableUnknownFields(r)->AddLengthDelimited(
        999, std::string(unknown_field_bytes, 'u'));
  }

  v1::CollectorMessage in;
  if (flood > 0) {
    if (!stream->Write(hello)) {
      grpc::Status st = stream->Finish();
      std::printf("error %d: %s\n", static_cast<int>(st.error_code()), st.error_message().c_str());
      return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    // One thread writes while this one reads acks: a sync stream allows one of each at a time.
    std::thread writer([&stream, report, flood, sequence]() mutable {
      for (int i = 0; i < flood; ++i) {
        report.mutable_report()->set_sequence(sequence + static_cast<uint64_t>(i));
        if (!stream->Write(report)) return;
      }
      stream->WritesDone();
    });
    int acked = 0;
    while (acked < flood && stream->Read(&in)) {
      if (in.has_ack() && in.ack().rejected_reason().empty()) {
        acked = static_cast<int>(in.ack().sequence() - sequence + 1);
      }
    }
    writer.join();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    while (stream->Read(&in)) {
    }
    grpc::Status st = stream->Finish();
    std::printf("flood acked %d in %lld ms (status %d)\n", acked, static_cast<long long>(ms),
                static_cast<int>(st.error_code()));
    return acked == flood ? 0 : 1;
  }
  if (stream->Write(hello) && stream->Write(report) && stream->Read(&in) && in.has_ack()) {
    stream->WritesDone();
    while (stream->Read(&in)) {
    }
    stream->Finish();
    if (!in.ack().rejected_reason().empty()) {
      std::printf("rejected %llu: %s\n", static_cast<unsigned long long>(in.ack().sequence()),
                  in.ack().rejected_reason().c_str());
      return 1;
    }
    std::printf("acked %llu\n", static_cast<unsigned long long>(in.ack().sequence()));
    return 0;
  }
  grpc::Status st = stream->Finish();
  std::printf("error %d: %s\n", static_cast<int>(st.error_code()), st.error_message().c_str());
  return 1;
}
