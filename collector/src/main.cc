// portwatch-collector: receives agent streams over mutual TLS, keeps fleet state and serves it as
// Prometheus metrics.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <system_error>

#include "portwatch/files.h"
#include "portwatch/process.h"
#include "portwatch/tls.h"
#include "portwatch/units.h"
#include "src/drift_monitor.h"
#include "src/fleet_core.h"
#include "src/fleet_metrics.h"
#include "src/fleet_state.h"
#include "src/fleet_view.h"
#include "src/host_patterns.h"
#include "src/ingest_service.h"
#include "src/metrics_endpoint.h"
#include "src/policy_metrics.h"
#include "src/policy_source.h"
#include "src/query_service.h"
#include "src/recovery.h"
#include "src/rejections.h"
#include "src/store.h"
#include "src/store_writer.h"
#include "src/tls_watch.h"
#include "src/ui/status_hook.h"
#include "src/web_config.h"
#include "src/web_server.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pw = portwatch;
namespace pc = portwatch::collector;

namespace {

int Fail(const std::string& msg) { return pw::ConfigError("portwatch-collector", msg); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "portwatch-collector: receives portwatch agent streams over mutual TLS, keeps fleet state "
      "and serves Prometheus metrics."};
  app.set_version_flag("--version", PORTWATCH_VERSION);
  app.set_config("--config", "", "Read options from this INI/TOML file (keys as long flags)");
  std::string listen = "0.0.0.0:7443", metrics_listen = "127.0.0.1:9464", ca, cert, key,
              ready_file;
  int max_streams = 50000, max_streams_per_host = 8, max_streams_without_hello = 256;
  std::string hello_timeout = "10s", allow_hosts;
  app.add_option("--listen", listen, "gRPC address for agents, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics address, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--ca", ca, "Fleet CA certificate (PEM): agents must present a certificate "
                             "it signed")->required();
  app.add_option("--cert", cert, "Collector certificate (PEM), signed by the fleet CA")->required();
  app.add_option("--key", key, "Collector private key (PEM)")->required();
  std::string crl, tls_reload_interval = "30s";
  app.add_option("--crl", crl,
                 "Certificate revocation list (PEM, signed by the fleet CA): agents and operators "
                 "whose certificate it lists are refused. Reloaded when the file changes");
  app.add_option("--tls-reload-interval", tls_reload_interval,
                 "How often --cert, --key and --ca are re-read for new connections (the CRL is "
                 "checked every second); established streams are kept, e.g. 30s")
      ->capture_default_str();
  int metrics_threads = 16;
  app.add_option("--metrics-threads", metrics_threads,
                 "Concurrent /metrics requests served; idle or slow clients hold one each for at "
                 "most 10 s, so keep this above the number of scrapers plus a margin")
      ->capture_default_str()->check(CLI::Range(2, 1024));
  app.add_option("--max-streams-per-host", max_streams_per_host,
                 "Concurrent streams of one agent certificate")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--max-streams-without-hello", max_streams_without_hello,
                 "Streams accepted that have not sent their hello yet, over all agents")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--hello-timeout", hello_timeout,
                 "A stream that has not sent its hello by then is closed, e.g. 10s")
      ->capture_default_str();
  app.add_option("--allow-hosts", allow_hosts,
                 "Comma-separated glob patterns of the host names (certificate DNS names) allowed "
                 "to report, e.g. '*.prod.example.com,web?\?'; others are refused with "
                 "PERMISSION_DENIED. Default: every host the fleet CA certified");
  double max_reports_per_second = 20, report_burst = 200;
  app.add_option("--max-reports-per-second-per-host", max_reports_per_second,
                 "Reports read per second from one agent certificate, over all its streams; "
                 "faster senders are paced (their next report is read later: the agent keeps it "
                 "spooled), never refused. 0: no limit")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--report-burst-per-host", report_burst,
                 "Reports one certificate may send at once above that rate, e.g. a spool replay "
                 "after an outage")
      ->capture_default_str()->check(CLI::Range(1.0, 1e7));
  app.add_option("--max-streams", max_streams, "Concurrent agent streams accepted")
      ->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--ready-file", ready_file,
                 "Once listening, write the bound ports here as JSON (for scripts and tests)");
  // Persistence: the database, its retention, and when a quiet host counts as silent.
  std::string db = "/var/lib/portwatch/collector.db", db_sync = "full", history_max_age = "8d",
              silent_after = "5m", history_max_bytes = "256MiB";
  int64_t history_max_reports = 100000, max_instances_per_host = 64;
  app.add_option("--db", db,
                 "SQLite database (WAL) for fleet state and report history; created if missing. "
                 "A report is acknowledged only once stored here")
      ->capture_default_str();
  app.add_option("--db-sync", db_sync,
                 "full: an acknowledged report survives power loss; normal: it survives a "
                 "collector crash, and commits are cheaper")
      ->capture_default_str()->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--history-max-age", history_max_age,
                 "Keep each host's reports this long, e.g. 8d. A restart replays up to 8 days "
                 "into drift analysis (its seasonal baseline): less forgets part of the week")
      ->capture_default_str();
  app.add_option("--history-max-reports", history_max_reports,
                 "Keep at most this many reports per host")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app.add_option("--max-instances-per-host", max_instances_per_host,
                 "Agent instances (agent process starts) remembered per host for duplicate "
                 "detection; a new one beyond this replaces the least recently seen")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_option("--history-max-bytes", history_max_bytes,
                 "Keep at most this many bytes of reports per host (enforced as reports are "
                 "stored, oldest received first), e.g. 256MiB")
      ->capture_default_str();
  app.add_option("--silent-after", silent_after,
                 "A host not heard from for this long is reported silent (it stays listed)")
      ->capture_default_str();
  // Drift analysis and the query API.
  std::string query_clients = "portwatchctl";
  double analysis_time_scale = 1.0;
  app.add_option("--query-clients", query_clients,
                 "Comma-separated certificate names allowed to use the query API (portwatchctl); "
                 "agents' certificates are not")
      ->capture_default_str();
  app.add_option("--analysis-time-scale", analysis_time_scale,
                 "Multiply every duration of drift analysis by this (1/60 makes an hour a "
                 "minute: for drills and demos on compressed time)")
      ->capture_default_str()->check(CLI::Range(1e-4, 1e4));
  size_t metrics_detail_hosts = 20;
  app.add_option("--metrics-detail-hosts", metrics_detail_hosts,
                 "Besides every host that is not ok, export per-destination, per-process and "
                 "settings series for this many ok hosts with the highest range use (the query "
                 "API has every host's detail)")
      ->capture_default_str()->check(CLI::Range(size_t{0}, size_t{100000}));
  pc::ui::UiOptions ui_opts;
  pc::ui::AddUiOptions(app, &ui_opts);
  std::string web_config_file;
  app.add_option("--web-config-file", web_config_file,
                 "TLS (optionally requiring client certificates) and basic auth for /metrics and "
                 "the status page, in the Prometheus exporters' web config format "
                 "(tls_server_config, basic_auth_users with bcrypt hashes). Default: plain HTTP "
                 "without authentication");
  std::string policy_file;
  app.add_option("--policy", policy_file, "Policy audit rules (YAML); reloaded on SIGHUP and when "
                 "the file changes. Default: the built-in default policy");
  CLI11_PARSE(app, argc, argv);

  auto grpc_addr = pw::ParseHostPort(listen, "--listen");
  if (!grpc_addr.ok()) return Fail(grpc_addr.error());
  auto metrics_addr = pw::ParseHostPort(metrics_listen, "--metrics-listen");
  if (!metrics_addr.ok()) return Fail(metrics_addr.error());
  auto allowed_hosts = pc::HostPatterns::Parse(allow_hosts, "--allow-hosts");
  if (!allowed_hosts.ok()) return Fail(allowed_hosts.error());
  auto web_config = pc::LoadWebConfig(web_config_file);
  if (!web_config.ok()) return Fail(web_config.error());
  if (pw::Status st = pc::CheckTlsFiles(*web_config); !st.ok()) return Fail(st.message());
  auto tls = pw::LoadTlsMaterial({ca, cert, key});
  if (!tls.ok()) return Fail(tls.error());
  if (!web_config->basic_auth_users.empty() && !web_config->tls) {
    std::fprintf(stderr,
                 "portwatch-collector: warning: %s sets basic_auth_users without "
                 "tls_server_config, so passwords cross the network in clear text\n",
                 web_config_file.c_str());
  }
  auto tls_reload_ms = pw::ParseDurationMs(tls_reload_interval, "--tls-reload-interval");
  if (!tls_reload_ms.ok()) return Fail(tls_reload_ms.error());
  if (*tls_reload_ms < 1000) return Fail("--tls-reload-interval must be at least 1s");
  pc::StoreOptions store_opts;
  store_opts.path = db;
  store_opts.synchronous_full = db_sync == "full";
  store_opts.max_reports_per_host = history_max_reports;
  auto max_age = pw::ParseDurationMs(history_max_age, "--history-max-age");
  if (!max_age.ok()) return Fail(max_age.error());
  store_opts.history_max_age_ms = *max_age;
  auto max_bytes = pw::ParseByteSize(history_max_bytes, "--history-max-bytes");
  if (!max_bytes.ok()) return Fail(max_bytes.error());
  if (*max_bytes < (1u << 20)) return Fail("--history-max-bytes must be at least 1MiB");
  store_opts.max_bytes_per_host = static_cast<int64_t>(*max_bytes);
  store_opts.max_instances_per_host = max_instances_per_host;
  auto silent_ms = pw::ParseDurationMs(silent_after, "--silent-after");
  if (!silent_ms.ok()) return Fail(silent_ms.error());

  // Signals are taken synchronously by main below; block them before any thread starts.
  sigset_t sigs = pw::BlockTerminationSignals();
  sigaddset(&sigs, SIGHUP);  // reloads the policy and the CRL
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  // Ports first: a taken port is a configuration error that must not touch the database.
  auto registry = std::make_shared<prometheus::Registry>();
  pc::WebOptions web_opts;
  web_opts.threads = metrics_threads;
  auto metrics_server = pc::WebServer::Bind(*web_config, web_opts, metrics_addr->host,
                                            metrics_addr->port, "metrics", "--metrics-listen");
  if (!metrics_server.ok()) return Fail(metrics_server.error());
  pc::MetricsEndpoint exposer(**metrics_server);
  exposer.RegisterCollectable(registry);
  auto ui = pc::ui::BindUi(ui_opts, *web_config);  // the status page's port, if enabled
  if (!ui.ok()) return Fail(ui.error());
  // A CRL that cannot be read is a configuration error too: check it before any thread starts.
  pc::TlsFileWatcher tls_watch({ca, cert, key}, crl, *registry);
  if (pw::Status st = tls_watch.Start(); !st.ok()) return Fail(st.message());

  if (const auto parent = std::filesystem::path(db).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Fail("cannot create the directory of --db '" + db + "': " + ec.message() +
                  "; create it or pass another --db");
    }
  }
  auto store = pc::Store::Open(store_opts);
  if (!store.ok()) return Fail(store.error());
  pc::FleetState fleet;
  auto restored = pc::RestoreFleet(**store, fleet);
  if (!restored.ok()) return Fail(restored.error());

  pw::analysis::Options analysis_opts;
  analysis_opts.silent_after_ms = *silent_ms;
  if (analysis_time_scale != 1.0) analysis_opts = analysis_opts.Scaled(analysis_time_scale);
  auto drift = pc::DriftMonitor::Create(analysis_opts);
  if (!drift.ok()) return Fail("drift analysis options: " + drift.error());
  auto replayed = pc::RestoreDrift(**store, fleet, **drift, pw::NowUnixMs());
  if (!replayed.ok()) return Fail(replayed.error());
  auto loaded_policy = pc::LoadCollectorPolicy(policy_file);
  if (!loaded_policy.ok()) return Fail(loaded_policy.error());
  pc::PolicyMonitor policy(std::move(*loaded_policy), pw::NowUnixMs());
  pc::RestorePolicy(fleet, policy);
  pc::PolicyFileWatcher policy_watch(policy_file, policy);
  std::set<std::string> allowed_queries;
  for (size_t pos = 0; pos <= query_clients.size();) {
    size_t comma = query_clients.find(',', pos);
    std::string name = query_clients.substr(pos, comma == std::string::npos ? std::string::npos
                                                                            : comma - pos);
    if (!name.empty()) allowed_queries.insert(name);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }

  // The state thread owns fleet state and analysis from here on; readers see its views.
  pc::ViewPublisher views;
  pc::FleetCoreOptions core_opts;
  core_opts.silent_after_ms = analysis_opts.silent_after_ms;
  core_opts.forget_after_ms = *max_age;
  pc::FleetCore core(fleet, **drift, views, *registry, core_opts);
  core.SetPolicyMonitor(&policy);
  std::vector<pc::StateEvent> none;
  core.Step(none, /*tick=*/true, pw::NowUnixMs());  // the restored fleet, before any reader
  core.Start();

  pc::Rejections rejections(*registry);
  pc::IngestLimits limits;
  limits.max_streams = max_streams;
  limits.max_streams_per_host = max_streams_per_host;
  limits.max_streams_without_hello = max_streams_without_hello;
  auto hello_ms = pw::ParseDurationMs(hello_timeout, "--hello-timeout");
  if (!hello_ms.ok()) return Fail(hello_ms.error());
  limits.hello_timeout_ms = *hello_ms;
  limits.allow_hosts = std::move(*allowed_hosts);
  limits.max_reports_per_second_per_host = max_reports_per_second;
  limits.report_burst_per_host = report_burst;
  pc::StoreWriter writer(**store, *registry,
                         [&core](std::vector<pc::StateEvent> events) {
                           core.Submit(std::move(events));
                         });
  writer.Start();
  pc::QueryService queries(views, rejections, allowed_queries);
  queries.SetRevocations(tls_watch.revocations());
  queries.SetPolicyMonitor(&policy);
  auto policy_metrics = std::make_shared<pc::PolicyCollectable>(policy);  // the exposer keeps a
  exposer.RegisterCollectable(policy_metrics);                              // weak pointer
  pc::IngestService service(writer, *registry, rejections, limits);
  // The handshake check only sees new connections: a CRL that revokes a certificate also ends
  // the streams it already has open.
  tls_watch.OnCrlReloaded([&service](const pw::RevocationList& list) {
    if (const int cut = service.CutRevoked(list); cut > 0) {
      std::fprintf(stderr, "portwatch-collector: ended %d streams of revoked certificates\n",
                   cut);
    }
  });
  pc::MetricsOptions metrics_opts;
  metrics_opts.detail_hosts = metrics_detail_hosts;
  auto fleet_metrics = std::make_shared<pc::FleetCollectable>(views, metrics_opts);
  exposer.RegisterCollectable(fleet_metrics);
  // The server was made first; on every way out, it must stop serving scrapes before the state
  // they read (declared after it) is destroyed.
  struct StopServingMetrics {
    pc::WebServer& server;
    ~StopServingMetrics() { server.Stop(); }
  } stop_serving_metrics{**metrics_server};
  (*metrics_server)->Start();

  // The status page reads the same state; it stops at ServingUi's end, before that state goes.
  pc::ui::ServingUi serving_ui(*ui, views, db, &policy);

  grpc::ServerBuilder builder;
  int grpc_port = 0;
  pw::ServerTlsOptions server_tls;
  server_tls.files = {ca, cert, key};
  server_tls.refresh_interval_sec = static_cast<unsigned>(*tls_reload_ms / 1000);
  server_tls.revocations = tls_watch.revocations();
  server_tls.on_revoked = [&rejections](const std::string& why) {
    rejections.Reject("certificate_revoked", "TLS handshake refused: " + why);
  };
  builder.AddListeningPort(grpc_addr->ToString(), pw::MakeReloadingServerCredentials(server_tls),
                           &grpc_port);
  builder.RegisterService(&service);
  builder.RegisterService(&queries);
  builder.SetMaxReceiveMessageSize(1 << 20);  // a report is a few KiB; refuse anything absurd
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  // Connections that never finish the TLS handshake, or that carry no call (an HTTP/2 preface
  // and nothing more), are closed instead of holding a file descriptor forever; a peer that stops
  // answering pings is dropped.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  // No bandwidth-delay probing: it grows a stream's receive window whether or not the stream is
  // read, so a host paced by the report rate limit had its flood buffered and decrypted here
  // (tens of MiB, a third of a core: BENCHMARKS.md, fairness). Reports are small; the default
  // 64 KiB window carries them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) {
    return Fail("cannot listen for agents on " + listen +
                ": is the port taken or the address not on this host? Choose another with "
                "--listen");
  }
  const int metrics_port = (*metrics_server)->port();
  pw::HostPort shown_metrics = *metrics_addr;
  shown_metrics.port = static_cast<uint16_t>(metrics_port);
  std::fprintf(stderr,
               "portwatch-collector %s: agents on %s (port %d), metrics at %s://%s/metrics, "
               "database %s (%zu hosts restored, %zu reports replayed into drift analysis)\n",
               PORTWATCH_VERSION, listen.c_str(), grpc_port, (*metrics_server)->scheme(),
               shown_metrics.ToString().c_str(),
               db.c_str(), *restored, *replayed);
  if (!ready_file.empty()) {
    const std::string json = "{\"grpc_port\": " + std::to_string(grpc_port) +
                             ", \"metrics_port\": " + std::to_string(metrics_port) +
                             ", \"ui_port\": " + std::to_string(pc::ui::UiPort(*ui)) +
                             ", \"pid\": " + std::to_string(getpid()) + "}\n";
    pw::Status st = pw::WriteFileAtomic(ready_file, json);
    if (!st.ok()) return Fail("cannot write --ready-file: " + st.message());
  }

  // The main thread waits for a signal, reloads the policy (SIGHUP, or its file changed) and
  // publishes the policy's results (peer rules); the state thread marks silent hosts.
  int sig = 0;
  for (;;) {
    const timespec wait{1, 0};
    sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig == SIGHUP) {
      policy_watch.Reload(pw::NowUnixMs());
      tls_watch.Reload();
    }
    tls_watch.Poll();
    policy_watch.Poll(pw::NowUnixMs());
    policy.Tick();
  }
  std::fprintf(stderr, "portwatch-collector: signal %d, shutting down\n", sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  writer.Stop();  // commits what the last streams sent
  core.Stop();
  return 0;
}
