#include "src/metric_families.h"

namespace portwatch::collector {

prometheus::MetricFamily NewFamily(const std::string& name, const std::string& help,
                                   prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::ClientMetric& AddSample(prometheus::MetricFamily& f,
                                    std::vector<prometheus::ClientMetric::Label> labels,
                                    double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f.metric.back();
}

}  // namespace portwatch::collector
