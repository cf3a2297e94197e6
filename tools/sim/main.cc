// portwatch-sim: a fleet of simulated agents against a real collector. Each simulated host has
// its own client certificate (issued in-process from the fleet CA), speaks the real Ingest
// protocol over mutual TLS on its own connection, and reports what its scenario says (a daily
// cycle, leaks, TIME_WAIT storms, SYN floods, bad settings, flapping networks, skewed clocks,
// agent restarts with spool replay). Deterministic from --seed; --time-scale compresses the
// scenarios' time (run the collector with --analysis-time-scale 1/F to match).
//
// Prints a JSON summary on stdout at the end: reports sent and acknowledged, acks per second
// and acknowledgement latency quantiles. Exit 0 on a clean run, 2 on bad input or when the
// collector cannot be reached.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <CLI/CLI.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "portwatch/files.h"
#include "portwatch/process.h"
#include "portwatch/tls.h"
#include "portwatch/units.h"
#include "portwatch/v1/portwatch.grpc.pb.h"
#include "portwatch/wire.h"
#include "sim/cert_issuer.h"
#include "sim/sim_model.h"

namespace pw = portwatch;
namespace ps = portwatch::sim;
namespace v1 = portwatch::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// Acknowledgement latency in log-spaced buckets (10% apart) from 10 µs to ~100 s.
class Latency {
 public:
  void Record(double seconds) {
    const double us = std::max(seconds * 1e6, 10.0);
    const int b = std::min<int>(kBuckets - 1, static_cast<int>(std::log(us / 10) / std::log(1.1)));
    counts_[b].fetch_add(1, std::memory_order_relaxed);
  }
  double QuantileMs(double q) const {
    uint64_t total = 0;
    for (const auto& c : counts_) total += c.load();
    if (total == 0) return 0;
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += counts_[b].load();
      if (seen >= q * total) return 10 * std::pow(1.1, b + 1) / 1000;
    }
    return 0;
  }

 private:
  static constexpr int kBuckets = 170;
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

struct Stats {
  std::atomic<uint64_t> sent{0}, acked{0}, rejected{0}, resent{0}, dropped{0};
  std::atomic<uint64_t> streams{0}, stream_failures{0};
  std::atomic<int> live_streams{0};
  Latency ack;
};

struct SimOptions {
  int64_t interval_ms = 15000;
  double time_scale = 1;
  size_t max_unacked = 1000;
  bool record_acks = false;  ///< keep every acknowledged (instance, sequence) for --acked-file
};

class SimHost;

// One Ingest stream of one host. A hold keeps the call open until the host lets go (it saw the
// stream break, or the run ends), so writes never race the end of the call. The stream's own
// reactions never take the host's lock when the stream breaks, so a cancel or a release made
// under that lock cannot deadlock if gRPC runs a reaction inline.
class Stream final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::CollectorMessage> {
 public:
  Stream(SimHost* host, v1::Ingest::Stub* stub, std::vector<v1::AgentMessage> first,
         Stats* stats)
      : host_(host), stats_(stats) {
    stats_->live_streams.fetch_add(1);
    out_.assign(std::make_move_iterator(first.begin()), std::make_move_iterator(first.end()));
    stub->async()->Stream(&ctx_, this);
    AddHold();
    StartRead(&in_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      WriteNextLocked();
    }
    StartCall();
  }
  void Send(v1::AgentMessage m) {
    std::lock_guard<std::mutex> lk(mu_);
    if (released_) return;  // the host keeps it unacknowledged and resends it
    out_.push_back(std::move(m));
    WriteNextLocked();
  }
  void Cut() { ctx_.TryCancel(); }
  bool broken() const { return broken_.load(); }
  /// The host lets go of the stream (under its lock); the stream may be gone right after.
  void Release() { RemoveHold(); }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lk(mu_);
    writing_ = false;
    if (!ok) return;  // the read side sees the break and releases
    out_.pop_front();
    WriteNextLocked();
  }
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      stats_->stream_failures.fetch_add(1);
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 5) {
        std::fprintf(stderr, "portwatch-sim: a stream ended: %s (code %d)\n",
                     status.error_message().c_str(), static_cast<int>(status.error_code()));
      }
    }
    stats_->live_streams.fetch_sub(1);
    delete this;
  }

 private:
  void WriteNextLocked() {
    if (writing_ || released_ || out_.empty()) return;
    writing_ = true;
    StartWrite(&out_.front());
  }
  SimHost* host_;
  Stats* stats_;
  grpc::ClientContext ctx_;
  v1::CollectorMessage in_;
  std::mutex mu_;
  std::deque<v1::AgentMessage> out_;
  bool writing_ = false;
  bool released_ = false;  // no more writes: the read side saw the end
  std::atomic<bool> broken_{false};
};

class SimHost {
 public:
  SimHost(const ps::HostPlan& plan, std::shared_ptr<grpc::Channel> channel, Stats* stats,
          const SimOptions& opts, Clock::time_point start)
      : model_(plan),
        channel_(std::move(channel)),
        stub_(v1::Ingest::NewStub(channel_)),
        stats_(stats),
        opts_(opts),
        rng_(plan.seed ^ 0x5eed),
        instance_(NewInstance()) {
    // Spread the fleet's reports over the interval.
    next_report_ = start + std::chrono::milliseconds(rng_() % std::max<int64_t>(1, opts.interval_ms));
    reconnect_at_ = start;
    flap_every_ = 10 + rng_() % 20;
    restart_every_ = 30 + rng_() % 30;
  }

  void Tick(Clock::time_point now, double sim_hours) {
    std::lock_guard<std::mutex> lk(mu_);
    if (stream_ != nullptr && stream_->broken()) {
      stream_->Release();
      stream_ = nullptr;
      // Back off a little: one to three intervals after a cut, capped for long intervals.
      const int64_t pause = std::min<int64_t>(opts_.interval_ms * (1 + rng_() % 3), 5000);
      reconnect_at_ = now + std::chrono::milliseconds(pause);
    }
    if (stream_ == nullptr && now >= reconnect_at_) Connect();
    if (now < next_report_) return;
    next_report_ += std::chrono::milliseconds(opts_.interval_ms);
    if (next_report_ < now) next_report_ = now;  // fell behind: no burst
    const int64_t unix_ms = pw::NowUnixMs();
    const bool with_config = seq_ == 0 || unix_ms - config_sent_ms_ > 3'600'000;
    if (with_config) config_sent_ms_ = unix_ms;
    pw::Report r = model_.Sample(sim_hours, unix_ms, ++seq_, with_config);
    r.instance_id = instance_;
    r.health.reports_pending = static_cast<uint32_t>(unacked_.size());
    r.health.reports_dropped_total = dropped_;
    Pending p;
    p.seq = seq_;
    p.instance = instance_;
    pw::ToProto(r, p.msg.mutable_report());
    p.sent = now;
    if (unacked_.size() >= opts_.max_unacked) {  // the spool bound: the oldest goes
      unacked_.pop_front();
      ++dropped_;
      stats_->dropped.fetch_add(1);
    }
    unacked_.push_back(p);
    stats_->sent.fetch_add(1);
    if (stream_ != nullptr) stream_->Send(std::move(p.msg));
    const ps::Scenario sc = model_.plan().scenario;
    if (sc == ps::Scenario::kFlapping && stream_ != nullptr && ++since_flap_ >= flap_every_) {
      since_flap_ = 0;
      stream_->Cut();  // the network drops it; resumed after a pause
    }
    if (sc == ps::Scenario::kRestart && ++since_restart_ >= restart_every_) {
      since_restart_ = 0;
      instance_ = NewInstance();  // unacknowledged reports stay in the spool, old instance
      if (stream_ != nullptr) stream_->Cut();
    }
  }

  void OnAck(const v1::Ack& ack, const Stream* from) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!ack.rejected_reason().empty()) {
      stats_->rejected.fetch_add(1);
      static std::atomic<int> logged{0};
      if (logged.fetch_add(1) < 5) {
        std::fprintf(stderr, "portwatch-sim: %s: report %llu refused: %s\n",
                     model_.plan().name.c_str(), static_cast<unsigned long long>(ack.sequence()),
                     ack.rejected_reason().c_str());
      }
    }
    for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
      if (it->seq == ack.sequence() && it->instance == ack.instance_id()) {
        if (from == stream_) stats_->ack.Record(std::chrono::duration<double>(Clock::now() - it->sent).count());
        stats_->acked.fetch_add(1);
        if (opts_.record_acks) acked_.emplace_back(it->instance, it->seq);
        unacked_.erase(it);
        return;
      }
    }
  }

  void Close() {
    std::lock_guard<std::mutex> lk(mu_);
    if (stream_ != nullptr) {
      stream_->Cut();
      stream_->Release();
    }
    stream_ = nullptr;
    reconnect_at_ = Clock::time_point::max();
  }

  size_t unacked() {
    std::lock_guard<std::mutex> lk(mu_);
    return unacked_.size();
  }
  /// "HOST INSTANCE SEQUENCE" lines, one per acknowledged report.
  void AppendAcked(std::string* out) {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [instance, seq] : acked_) {
      *out += model_.plan().name + " " + instance + " " + std::to_string(seq) + "\n";
    }
  }

 private:
  struct Pending {
    uint64_t seq = 0;
    std::string instance;
    v1::AgentMessage msg;
    Clock::time_point sent;
  };

  std::string NewInstance() {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
    return buf;
  }

  // Under mu_. The hello, then everything not yet acknowledged, oldest first.
  void Connect() {
    std::vector<v1::AgentMessage> first;
    first.emplace_back();
    pw::ToProto(model_.Hello(instance_, static_cast<uint32_t>(opts_.interval_ms)),
                first.back().mutable_hello());
    const auto now = Clock::now();
    for (Pending& p : unacked_) {
      first.push_back(p.msg);
      p.sent = now;
      stats_->resent.fetch_add(1);
    }
    stats_->streams.fetch_add(1);
    stream_ = new Stream(this, stub_.get(), std::move(first), stats_);
  }

  std::mutex mu_;
  ps::HostModel model_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  Stats* stats_;
  const SimOptions opts_;
  std::mt19937_64 rng_;
  std::string instance_;
  Stream* stream_ = nullptr;
  std::deque<Pending> unacked_;
  std::vector<std::pair<std::string, uint64_t>> acked_;
  uint64_t seq_ = 0;
  uint64_t dropped_ = 0;
  int64_t config_sent_ms_ = 0;
  Clock::time_point next_report_, reconnect_at_;
  uint32_t since_flap_ = 0, flap_every_ = 0, since_restart_ = 0, restart_every_ = 0;
};

void Stream::OnReadDone(bool ok) {
  if (!ok) {
    std::lock_guard<std::mutex> lk(mu_);
    released_ = true;
    broken_ = true;  // the host's next tick lets go and reconnects
    return;
  }
  if (in_.has_ack()) host_->OnAck(in_.ack(), this);
  StartRead(&in_);
}

int Fail(const std::string& msg) { return pw::ConfigError("portwatch-sim", msg); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"portwatch-sim: simulated agents (each with its own certificate) reporting to a "
               "real collector over mutual TLS"};
  std::string collector, ca, ca_key, server_name = "localhost", mix_text = "healthy",
                                     prefix = "sim", interval = "15s", duration = "0",
                                     plan_file, acked_file, connect_timeout = "10s";
  size_t hosts = 0;
  uint64_t seed = 1;
  SimOptions opts;
  app.add_option("--collector", collector, "The collector's agent address, HOST:PORT")
      ->required();
  app.add_option("--ca", ca, "Fleet CA certificate (PEM)")->required();
  app.add_option("--ca-key", ca_key,
                 "The fleet CA's private key (PEM): host certificates are issued from it")
      ->required();
  app.add_option("--server-name", server_name,
                 "Name expected in the collector's certificate")->capture_default_str();
  app.add_option("--hosts", hosts, "Simulated hosts (1 to 100000)")->required();
  app.add_option("--mix", mix_text,
                 "Scenario shares, e.g. healthy=70,leak_slow=10,leak_fast=5,tw_storm=5; "
                 "scenarios: healthy, leak_slow, leak_fast, leak_destination, leak_process, "
                 "tw_storm, syn_flood, misconfigured, flapping, clock_skew, restart")
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed: the same seed gives the same fleet")->capture_default_str();
  app.add_option("--prefix", prefix, "Host names are PREFIX-00001, ...")->capture_default_str();
  app.add_option("--interval", interval, "Each host's report interval")->capture_default_str();
  app.add_option("--time-scale", opts.time_scale,
                 "Simulated seconds per real second for the scenarios (60: an hour a minute)")
      ->capture_default_str()->check(CLI::Range(1e-3, 1e5));
  app.add_option("--duration", duration, "Stop after this long (0: at SIGINT/SIGTERM)")
      ->capture_default_str();
  app.add_option("--plan-file", plan_file,
                 "Write each host's scenario here as JSON before reporting starts");
  app.add_option("--acked-file", acked_file,
                 "At the end, write every acknowledged report here as HOST INSTANCE SEQUENCE "
                 "lines (for checking the collector's database)");
  app.add_option("--connect-timeout", connect_timeout,
                 "Give up when the collector does not answer within this")->capture_default_str();
  app.add_option("--max-unacked", opts.max_unacked,
                 "Reports each host keeps unacknowledged (its spool bound)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (hosts < 1 || hosts > 100000) {
    return Fail("--hosts must be between 1 and 100000 (got " + std::to_string(hosts) + ")");
  }
  auto mix = ps::ParseMix(mix_text);
  if (!mix.ok()) return Fail(mix.error());
  auto interval_ms = pw::ParseDurationMs(interval, "--interval");
  if (!interval_ms.ok()) return Fail(interval_ms.error());
  if (*interval_ms < 10) return Fail("--interval must be at least 10ms");
  opts.interval_ms = *interval_ms;
  auto duration_ms = pw::ParseDurationMs(duration, "--duration");
  if (!duration_ms.ok()) return Fail(duration_ms.error());
  auto connect_ms = pw::ParseDurationMs(connect_timeout, "--connect-timeout");
  if (!connect_ms.ok()) return Fail(connect_ms.error());
  auto target = pw::ParseHostPort(collector, "--collector");
  if (!target.ok()) return Fail(target.error());
  opts.record_acks = !acked_file.empty();
  auto issuer = ps::CertIssuer::Open(ca, ca_key);
  if (!issuer.ok()) return Fail(issuer.error());

  const auto plans = ps::PlanFleet(hosts, *mix, seed, prefix);
  if (!plan_file.empty()) {
    std::string json = "{\"hosts\": [";
    for (size_t i = 0; i < plans.size(); ++i) {
      json += std::string(i ? ", " : "") + "{\"host\": \"" + plans[i].name +
              "\", \"scenario\": \"" + std::string(ps::ScenarioName(plans[i].scenario)) +
              "\", \"os\": \"" + (plans[i].os == pw::OsKind::kWindows ? "windows" : "linux") +
              "\", \"leaks\": " + (ps::Leaks(plans[i].scenario) ? "true" : "false") + "}";
    }
    json += "]}\n";
    pw::Status st = pw::WriteFileAtomic(plan_file, json);
    if (!st.ok()) return Fail("cannot write --plan-file: " + st.message());
  }

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  Stats stats;
  const auto t_issue = Clock::now();
  std::vector<std::unique_ptr<SimHost>> fleet;
  fleet.reserve(plans.size());
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (const ps::HostPlan& plan : plans) {
    auto cert = (*issuer)->Issue(plan.name);
    if (!cert.ok()) return Fail(cert.error());
    pw::TlsMaterial m;
    m.ca_pem = (*issuer)->ca_pem();
    m.cert_pem = std::move(*cert);
    m.key_pem = (*issuer)->key_pem();
    m.subject_name = plan.name;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(server_name);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per host
    auto channel = grpc::CreateCustomChannel(target->ToString(), pw::MakeChannelCredentials(m), args);
    if (fleet.empty()) {
      // The first host tells whether the collector is there and takes this CA.
      if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                     std::chrono::milliseconds(*connect_ms))) {
        return Fail("cannot reach the collector at " + collector + " within " + connect_timeout +
                    " over mutual TLS: is it running, is --collector right, and does its "
                    "certificate carry the name '" + server_name + "' (--server-name) and "
                    "trust --ca?");
      }
    }
    fleet.push_back(std::make_unique<SimHost>(plan, std::move(channel), &stats, opts, start));
  }
  std::fprintf(stderr, "portwatch-sim: %zu hosts with their certificates ready in %.2f s\n",
               fleet.size(),
               std::chrono::duration<double>(Clock::now() - t_issue).count());

  // Two drivers share the hosts; each sweeps its half every few milliseconds.
  const auto t0 = Clock::now();
  const auto deadline = *duration_ms > 0 ? t0 + std::chrono::milliseconds(*duration_ms)
                                         : Clock::time_point::max();
  auto drive = [&](size_t part) {
    while (!g_stop && Clock::now() < deadline) {
      const auto now = Clock::now();
      const double sim_h = std::chrono::duration<double>(now - t0).count() * opts.time_scale / 3600;
      for (size_t i = part; i < fleet.size(); i += 2) fleet[i]->Tick(now, sim_h);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  std::thread d0(drive, 0), d1(drive, 1);
  uint64_t last_acked = 0;
  auto last = t0;
  while (!g_stop && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (Clock::now() - last >= std::chrono::seconds(10)) {
      const uint64_t acked = stats.acked.load();
      std::fprintf(stderr, "portwatch-sim: %.0f acks/s, %llu sent, %llu acked, p99 ack %.1f ms\n",
                   (acked - last_acked) / std::chrono::duration<double>(Clock::now() - last).count(),
                   static_cast<unsigned long long>(stats.sent.load()),
                   static_cast<unsigned long long>(acked), stats.ack.QuantileMs(0.99));
      last_acked = acked;
      last = Clock::now();
    }
  }
  d0.join();
  d1.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  // Let the last acknowledgements in (bounded), then close every stream and wait for them.
  const auto settle = Clock::now() + std::chrono::seconds(3);
  for (;;) {
    size_t open = 0;
    for (auto& h : fleet) open += h->unacked();
    if (open == 0 || Clock::now() > settle) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  size_t unacked = 0;
  for (auto& h : fleet) {
    unacked += h->unacked();
    h->Close();
  }
  if (!acked_file.empty()) {
    std::string lines;
    for (auto& h : fleet) h->AppendAcked(&lines);
    pw::Status st = pw::WriteFileAtomic(acked_file, lines);
    if (!st.ok()) std::fprintf(stderr, "portwatch-sim: cannot write --acked-file: %s\n", st.message().c_str());
  }
  const auto closing = Clock::now() + std::chrono::seconds(10);
  while (stats.live_streams.load() > 0 && Clock::now() < closing) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf(
      "{\"hosts\": %zu, \"seconds\": %.1f, \"sent\": %llu, \"acked\": %llu, \"rejected\": %llu, "
      "\"resent\": %llu, \"dropped\": %llu, \"unacked_at_end\": %zu, \"acks_per_second\": %.1f, "
      "\"ack_p50_ms\": %.2f, \"ack_p99_ms\": %.2f, \"streams_opened\": %llu, "
      "\"stream_failures\": %llu}\n",
      fleet.size(), elapsed, static_cast<unsigned long long>(stats.sent.load()),
      static_cast<unsigned long long>(stats.acked.load()),
      static_cast<unsigned long long>(stats.rejected.load()),
      static_cast<unsigned long long>(stats.resent.load()),
      static_cast<unsigned long long>(stats.dropped.load()), unacked,
      stats.acked.load() / std::max(elapsed, 1e-3), stats.ack.QuantileMs(0.5),
      stats.ack.QuantileMs(0.99), static_cast<unsigned long long>(stats.streams.load()),
      static_cast<unsigned long long>(stats.stream_failures.load()));
  std::fflush(stdout);
  // Streams still open after the wait are the OS's to close: exit without destroying them.
  if (stats.live_streams.load() > 0) std::_Exit(0);
  return 0;
}
