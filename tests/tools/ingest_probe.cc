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

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/v1/portwatch.grpc.pb.h"

namespace v1 = portwatch::v1;

int main(int argc, char** argv) {
  CLI::App app{"Sends one hello and one report to a collector and prints the outcome"};
  std::string target, ca, cert, key, hostname = "probe", server_name;
  bool absurd = false;
  int timeout_s = 10;
  app.add_option("--target", target)->required();
  app.add_option("--ca", ca)->required();
  app.add_option("--cert", cert);
  app.add_option("--key", key);
  app.add_option("--hostname", hostname);
  app.add_option("--server-name", server_name);
  app.add_option("--timeout", timeout_s);
  app.add_flag("--absurd", absurd, "send a report with more ports in use than the range holds");
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
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  auto stream = stub->Stream(&ctx);

  v1::AgentMessage hello;
  hello.mutable_hello()->set_hostname(hostname);
  hello.mutable_hello()->set_instance_id("probe-instance");
  hello.mutable_hello()->set_os(v1::OS_KIND_LINUX);
  v1::AgentMessage report;
  v1::Report* r = report.mutable_report();
  r->set_sequence(1);
  r->set_collected_unix_ms(1);
  v1::SocketSummary* s = r->mutable_sockets();
  s->mutable_ephemeral_range()->set_low(50000);
  s->mutable_ephemeral_range()->set_high(50099);
  s->set_ephemeral_ports_usable(100);
  s->set_ephemeral_ports_in_use(absurd ? 5000 : 1);
  v1::StateCount* c = s->add_states();
  c->set_family(v1::ADDRESS_FAMILY_IPV4);
  c->set_state(v1::TCP_STATE_ESTABLISHED);
  c->set_count(1);
  s->set_total_sockets(1);

  v1::CollectorMessage in;
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
