#include "src/fleet_view.h"

#include <algorithm>

namespace portwatch::collector {

const HostView* FleetView::Find(std::string_view host) const {
  auto it = std::lower_bound(
      hosts.begin(), hosts.end(), host,
      [](const std::shared_ptr<const HostView>& h, std::string_view name) { return h->host < name; });
  return it != hosts.end() && (*it)->host == host ? it->get() : nullptr;
}

size_t FleetView::not_ok_count() const {
  size_t n = 0;
  for (const HostView* h : ranked) {
    if (h->drift.state == analysis::HostState::kOk) break;
    ++n;
  }
  return n;
}

void ViewPublisher::Publish(std::shared_ptr<const FleetView> view) {
  // The old view is released outside the lock: freeing a large view must not hold readers.
  std::shared_ptr<const FleetView> old;
  {
    std::lock_guard<std::mutex> lk(mu_);
    old = std::move(view_);
    view_ = std::move(view);
  }
}

std::shared_ptr<const FleetView> ViewPublisher::Current() const {
  std::lock_guard<std::mutex> lk(mu_);
  return view_;
}

}  // namespace portwatch::collector
