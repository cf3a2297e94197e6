#include "src/tls_watch.h"

#include <sys/stat.h>

#include <cstdio>

#include "portwatch/files.h"
#include "portwatch/text.h"

namespace portwatch::collector {
namespace {

void Log(const std::string& line) {
  std::fprintf(stderr, "portwatch-collector: %s\n", line.c_str());
}

}  // namespace

TlsFileWatcher::TlsFileWatcher(TlsFiles files, std::string crl, prometheus::Registry& registry)
    : files_(std::move(files)),
      crl_path_(std::move(crl)),
      reloads_(prometheus::BuildCounter()
                   .Name("portwatch_collector_tls_reloads_total")
                   .Help("TLS files the collector re-read after they changed, by file "
                         "(certificate, ca, crl) and result (ok, error: the previous one stays "
                         "in force)")
                   .Register(registry)),
      cert_expiry_(prometheus::BuildGauge()
                       .Name("portwatch_collector_certificate_expiry_timestamp_seconds")
                       .Help("When the collector's own certificate on disk expires (Unix time)")
                       .Register(registry)
                       .Add({})),
      ca_expiry_(prometheus::BuildGauge()
                     .Name("portwatch_collector_ca_certificate_expiry_timestamp_seconds")
                     .Help("When the fleet CA certificate (the first of --ca) expires (Unix time)")
                     .Register(registry)
                     .Add({})) {
  if (!crl_path_.empty()) {
    crl_list_ = std::make_shared<RevocationList>();
    crl_next_update_ = &prometheus::BuildGauge()
                            .Name("portwatch_collector_crl_next_update_timestamp_seconds")
                            .Help(
                                "The earliest nextUpdate of the loaded CRLs (Unix time): "
                                "publish a new CRL before then")
                            .Register(registry)
                            .Add({});
    crl_revoked_ = &prometheus::BuildGauge()
                        .Name("portwatch_collector_crl_revoked_certificates")
                        .Help("Serials listed as revoked by the loaded CRLs")
                        .Register(registry)
                        .Add({});
  }
}

TlsFileWatcher::Stamp TlsFileWatcher::StampOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Stamp{};
  return Stamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
               static_cast<int64_t>(st.st_size)};
}

Status TlsFileWatcher::Start() {
  if (crl_list_) {
    crl_stamp_ = StampOf(crl_path_);
    Status st = crl_list_->Load(crl_path_, files_.ca_cert);
    if (!st.ok()) return Status::Error("--crl: " + st.message());
    crl_next_update_->Set(static_cast<double>(crl_list_->next_update_unix()));
    crl_revoked_->Set(static_cast<double>(crl_list_->revoked_count()));
  }
  cert_stamp_ = StampOf(files_.cert);
  key_stamp_ = StampOf(files_.key);
  ca_stamp_ = StampOf(files_.ca_cert);
  CheckIdentity();
  return Status::Ok();
}

void TlsFileWatcher::Counted(const std::string& file, bool ok) {
  reloads_.Add({{"file", file}, {"result", ok ? "ok" : "error"}}).Increment();
}

void TlsFileWatcher::ReloadCrl() {
  Status st = crl_list_->Load(crl_path_, files_.ca_cert);
  Counted("crl", st.ok());
  if (!st.ok()) {
    Log("cannot reload --crl, the previous CRL stays in force: " +
        SanitizeText(st.message(), kMaxTextFieldBytes));
    return;
  }
  crl_next_update_->Set(static_cast<double>(crl_list_->next_update_unix()));
  crl_revoked_->Set(static_cast<double>(crl_list_->revoked_count()));
  Log("reloaded CRL " + SanitizeText(crl_path_, kMaxTextFieldBytes) + ": " +
      std::to_string(crl_list_->revoked_count()) + " revoked certificates");
  if (on_crl_) on_crl_(*crl_list_);
}

// gRPC's file watcher swaps in the new files by itself; this says whether what it will serve is
// sound, so a bad rotation shows in the log and the metrics instead of only in failed handshakes.
void TlsFileWatcher::CheckIdentity() {
  auto m = LoadTlsMaterial(files_);
  if (!m.ok()) {
    Log("the TLS files on disk do not form a valid identity (" +
        SanitizeText(m.error(), kMaxTextFieldBytes) +
        "); fix them: new agent connections may fail until then");
    return;
  }
  if (auto exp = CertificateNotAfterUnix(m->cert_pem); exp.ok()) {
    cert_expiry_.Set(static_cast<double>(*exp));
  }
  if (auto exp = CertificateNotAfterUnix(m->ca_pem); exp.ok()) {
    ca_expiry_.Set(static_cast<double>(*exp));
  }
}

void TlsFileWatcher::Poll() {
  if (crl_list_) {
    const Stamp s = StampOf(crl_path_);
    if (s != crl_stamp_) {
      crl_stamp_ = s;
      ReloadCrl();
    }
  }
  const Stamp cert = StampOf(files_.cert), key = StampOf(files_.key), ca = StampOf(files_.ca_cert);
  const bool identity = cert != cert_stamp_ || key != key_stamp_;
  const bool ca_changed = ca != ca_stamp_;
  if (!identity && !ca_changed) return;
  cert_stamp_ = cert;
  key_stamp_ = key;
  ca_stamp_ = ca;
  CheckIdentity();
  if (identity) Counted("certificate", LoadTlsMaterial(files_).ok());
  if (ca_changed) {
    Counted("ca", LoadTlsMaterial({files_.ca_cert, "", ""}).ok());
    // A new CA bundle may be what signs a CRL that failed to load before.
    if (crl_list_) ReloadCrl();
  }
}

void TlsFileWatcher::Reload() {
  if (crl_list_) ReloadCrl();
  CheckIdentity();
}

}  // namespace portwatch::collector
