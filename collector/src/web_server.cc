#include "src/web_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace portwatch::collector {
namespace {

std::string OpensslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Accepts whatever certificate the client sent: RequestClientCert and RequireAnyClientCert ask for
// one without checking who signed it (as the exporters' Go TLS does).
int AcceptAny(int, X509_STORE_CTX*) { return 1; }

Status SetupTls(SSL_CTX* ctx, const WebConfig& cfg) {
  const TlsServerConfig& tls = *cfg.tls;
  auto fail = [&](const std::string& field, const std::string& path, const std::string& what) {
    return Status::Error("--web-config-file " + cfg.path + ": tls_server_config." + field + " '" +
                         path + "': " + what + " (" + OpensslError() + ")");
  };
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, tls.min_version);
  SSL_CTX_set_max_proto_version(ctx, tls.max_version);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return fail("cert_file", tls.cert_file, "cannot load a PEM certificate chain from it");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("key_file", tls.key_file, "cannot load a PEM private key from it");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("key_file", tls.key_file, "is not the key of cert_file " + tls.cert_file);
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return fail("client_ca_file", tls.client_ca_file, "cannot load PEM CA certificates from it");
    }
    // Tell clients which CAs are trusted, so one with several certificates picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  switch (tls.client_auth) {
    case ClientAuth::kNoClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAny);
      break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAny);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  return Status::Ok();
}

}  // namespace

Status CheckTlsFiles(const WebConfig& config) {
  if (!config.tls) return Status::Ok();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::Error("cannot create a TLS context: " + OpensslError());
  Status st = SetupTls(ctx, config);
  SSL_CTX_free(ctx);
  return st;
}

Expected<std::unique_ptr<WebServer>> WebServer::Bind(const WebConfig& config,
                                                     const WebOptions& options,
                                                     const std::string& host, uint16_t port,
                                                     const std::string& what,
                                                     const std::string& flag) {
  std::unique_ptr<WebServer> s(new WebServer());
  if (config.tls) {
    Status st = CheckTlsFiles(config);  // the precise message, before httplib hides it
    if (!st.ok()) return st;
    auto ssl = std::make_unique<httplib::SSLServer>(
        [&config](SSL_CTX& ctx) { return SetupTls(&ctx, config).ok(); });
    if (!ssl->is_valid()) {
      return Status::Error("--web-config-file " + config.path + ": cannot set up TLS (" +
                           OpensslError() + ")");
    }
    s->server_ = std::move(ssl);
    s->tls_ = true;
  } else {
    s->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& svr = *s->server_;
  const int threads = options.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Every socket read and write of a request is bounded, so a client sending its headers a byte
  // at a time, or nothing at all (or stalling its TLS handshake), frees its thread in that time.
  svr.set_read_timeout(options.request_timeout_s, 0);
  svr.set_write_timeout(options.request_timeout_s, 0);
  svr.set_keep_alive_timeout(options.keep_alive_timeout_s);
  svr.set_payload_max_length(options.max_request_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second collector
  // bind the same port and take half of the requests.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (!config.basic_auth_users.empty()) {
    s->auth_ = std::make_shared<BasicAuth>(config.basic_auth_users);
    std::shared_ptr<BasicAuth> auth = s->auth_;
    svr.set_pre_routing_handler([auth](const httplib::Request& req, httplib::Response& res) {
      if (auth->Allows(req.get_header_value("Authorization"))) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"portwatch\"");
      res.set_content(
          "Unauthorized: this endpoint needs the user name and password of its "
          "web config file's basic_auth_users\n",
          "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  s->host_ = host;
  s->what_ = what;
  if (port == 0) {
    s->port_ = svr.bind_to_any_port(host);
  } else if (svr.bind_to_port(host, port)) {
    s->port_ = port;
  }
  if (s->port_ <= 0) {
    return Status::Error("cannot serve " + what + " on " + host + ":" + std::to_string(port) +
                         ": is the port taken or the address not on this host? Choose another "
                         "with " +
                         flag);
  }
  return s;
}

void WebServer::Start() {
  thread_ = std::thread([this] { Run(); });
}

// httplib 0.11 stops listening on any accept() error but EMFILE, e.g. ECONNABORTED when a client
// resets a queued connection (browsers do, closing preconnected sockets). The endpoint must
// outlive its clients: bind the same port again and go on, until Stop().
void WebServer::Run() {
  for (;;) {
    server_->listen_after_bind();
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    std::fprintf(stderr,
                 "portwatch-collector: %s stopped accepting (%s); listening again on port %d\n",
                 what_.c_str(), std::strerror(errno), port_);
    if (!server_->bind_to_port(host_, port_)) {
      std::fprintf(stderr,
                   "portwatch-collector: cannot bind the port %d of %s again; it is off until "
                   "the collector restarts\n",
                   port_, what_.c_str());
      return;
    }
  }
}

void WebServer::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

WebServer::~WebServer() { Stop(); }

}  // namespace portwatch::collector
