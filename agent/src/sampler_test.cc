#include "src/sampler.h"

#include <gtest/gtest.h>

namespace portwatch::agent {
namespace {

// A socket table that returns a fixed list, and sources that fail: the logic under test is the
// sampler's, not the kernel's.
class FixedTable final : public SocketTable {
 public:
  explicit FixedTable(std::vector<SocketEntry> v) : v_(std::move(v)) {}
  Status Scan(std::vector<SocketEntry>* out) override {
    *out = v_;
    return Status::Ok();
  }

 private:
  std::vector<SocketEntry> v_;
};

class FailingEvents final : public EventSource {
 public:
  Status Read(EventCounts*) override { return Status::Error("counters file vanished"); }
};

class FailingAttribution final : public ProcessAttribution {
 public:
  Status Attribute(std::vector<SocketEntry>*) override { return Status::Error("no /proc"); }
  const ProcessInfo* Info(uint32_t) const override { return nullptr; }
};

std::vector<SocketEntry> OneConnection() {
  SocketEntry e;
  e.state = TcpState::kEstablished;
  e.local_port = 40000;
  e.remote_port = 443;
  return {e};
}

TEST(Sampler, SendsSettingsFirstThenOnlyOnChangeOrWhenDue) {
  SamplerOptions opts;
  opts.config_every = std::chrono::seconds(3600);
  Sampler s(std::make_unique<FixedTable>(OneConnection()), nullptr, nullptr, opts);
  Report r;
  ASSERT_TRUE(s.Sample(&r).ok());
  EXPECT_TRUE(r.has_config);  // the first report carries the settings
  EXPECT_FALSE(r.config.values.empty());
  ASSERT_TRUE(s.Sample(&r).ok());
  EXPECT_FALSE(r.has_config);  // unchanged and not due
  s.ForceConfig();
  ASSERT_TRUE(s.Sample(&r).ok());
  EXPECT_TRUE(r.has_config);

  SamplerOptions always = opts;
  always.config_every = std::chrono::seconds(0);
  Sampler every(std::make_unique<FixedTable>(OneConnection()), nullptr, nullptr, always);
  ASSERT_TRUE(every.Sample(&r).ok());
  ASSERT_TRUE(every.Sample(&r).ok());
  EXPECT_TRUE(r.has_config);  // due every time
}

TEST(Sampler, FailingSourcesDegradeTheReportButDoNotFailIt) {
  Sampler s(std::make_unique<FixedTable>(OneConnection()), std::make_unique<FailingAttribution>(),
            std::make_unique<FailingEvents>(), {});
  Report r;
  ASSERT_TRUE(s.Sample(&r).ok());
  EXPECT_EQ(r.sockets.total_sockets, 1u);
  EXPECT_TRUE(r.events.degraded);
  EXPECT_NE(r.events.degraded_reason.find("counters file vanished"), std::string::npos);
  EXPECT_NE(r.events.degraded_reason.find("no /proc"), std::string::npos);
  ASSERT_EQ(r.processes.top.size(), 1u);
  EXPECT_EQ(r.processes.top[0].name, kUnattributedProcess);  // counted, not dropped
}

// A table that cannot see bound-only sockets, as Windows without the bound-endpoint exports.
class BlindTable final : public SocketTable {
 public:
  Status Scan(std::vector<SocketEntry>* out) override {
    *out = OneConnection();
    return Status::Ok();
  }
  std::string MissingFromScan() const override { return "bound-only sockets are not counted"; }
};

TEST(Sampler, WhatTheTableCannotSeeIsSaid) {
  Sampler s(std::make_unique<BlindTable>(), nullptr, nullptr, {});
  Report r;
  ASSERT_TRUE(s.Sample(&r).ok());
  EXPECT_EQ(r.sockets.total_sockets, 1u);
  EXPECT_TRUE(r.events.degraded);
  EXPECT_NE(r.events.degraded_reason.find("bound-only sockets are not counted"),
            std::string::npos);
}

}  // namespace
}  // namespace portwatch::agent
