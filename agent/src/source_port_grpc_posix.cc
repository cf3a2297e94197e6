// Glue between SourcePortBinder and gRPC: a socket mutator, which gRPC calls on each new client
// socket before connect(). gRPC has no public option for a client's local address; the mutator
// channel argument (GRPC_ARG_SOCKET_MUTATOR) is public, but its vtable lives in a core header the
// Debian package does not install. The declarations below mirror gRPC 1.51's
// src/core/lib/iomgr/socket_mutator.h (the vtable layout is stable since mutate_fd_2 was added).
#include <grpc/support/sync.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>

#include "src/source_port.h"
#include "src/transport.h"

struct grpc_socket_mutator;
typedef enum {
  GRPC_FD_CLIENT_CONNECTION_USAGE,
  GRPC_FD_SERVER_LISTENER_USAGE,
  GRPC_FD_SERVER_CONNECTION_USAGE,
} grpc_fd_usage;
typedef struct {
  int fd;
  grpc_fd_usage usage;
} grpc_mutate_socket_info;
struct grpc_socket_mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* mutator);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* mutator);
  bool (*mutate_fd_2)(const grpc_mutate_socket_info* info, grpc_socket_mutator* mutator);
};
struct grpc_socket_mutator {
  const grpc_socket_mutator_vtable* vtable;
  gpr_refcount refcount;
};
// Exported by libgrpc with C++ linkage.
void grpc_socket_mutator_init(grpc_socket_mutator* mutator,
                              const grpc_socket_mutator_vtable* vtable);

namespace portwatch::agent {
namespace {

struct BinderMutator : grpc_socket_mutator {
  std::shared_ptr<SourcePortBinder> binder;
};

BinderMutator* Self(grpc_socket_mutator* m) { return static_cast<BinderMutator*>(m); }

bool MutateFd2(const grpc_mutate_socket_info* info, grpc_socket_mutator* m) {
  // Only client connections; the agent has no server sockets, but a listener must never move.
  if (info->usage == GRPC_FD_CLIENT_CONNECTION_USAGE) Self(m)->binder->Bind(info->fd);
  // Falling back to an ephemeral port beats failing the connection: never veto it.
  return true;
}

bool MutateFd(int fd, grpc_socket_mutator* m) {
  grpc_mutate_socket_info info{fd, GRPC_FD_CLIENT_CONNECTION_USAGE};
  return MutateFd2(&info, m);
}

int Compare(grpc_socket_mutator* a, grpc_socket_mutator* b) {
  const SourcePortBinder* x = Self(a)->binder.get();
  const SourcePortBinder* y = Self(b)->binder.get();
  return x < y ? -1 : (x > y ? 1 : 0);
}

void Destroy(grpc_socket_mutator* m) { delete Self(m); }

const grpc_socket_mutator_vtable kVtable = {MutateFd, Compare, Destroy, MutateFd2};

}  // namespace

void ConnectFromSourcePorts(std::vector<uint16_t> ports, TransportOptions* transport) {
  // One binder for all channels, so the rotation carries on across reconnects.
  auto binder = std::make_shared<SourcePortBinder>(std::move(ports));
  transport->prepare_channel = [binder](grpc::ChannelArguments* args) {
    auto* m = new BinderMutator;
    grpc_socket_mutator_init(m, &kVtable);  // one reference, owned by `args` from here on
    m->binder = binder;
    args->SetSocketMutator(m);
  };
  transport->describe_connection = [binder] {
    const uint16_t port = binder->last_port();
    return port ? "from source port " + std::to_string(port) : std::string();
  };
}

}  // namespace portwatch::agent
