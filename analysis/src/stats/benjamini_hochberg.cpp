#include "fpokit/analysis/stats/benjamini_hochberg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fpokit/core/errors.h"

namespace fpokit::analysis::stats {

Eigen::VectorXd benjamini_hochberg(const Eigen::VectorXd& p) {
  Eigen::VectorXd q = Eigen::VectorXd::Constant(p.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<Eigen::Index> order;
  order.reserve(static_cast<size_t>(p.size()));
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    if (std::isnan(p[i])) continue;
    if (!(p[i] >= 0.0 && p[i] <= 1.0)) {
      throw InputError("Benjamini-Hochberg: p-value " + std::to_string(i) + " is " + std::to_string(p[i]) +
                       ", outside [0, 1]");
    }
    order.push_back(i);
  }
  // Stable, so that tied p-values keep a reproducible order (their q-values are equal anyway).
  std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return p[a] < p[b]; });
  const auto m = static_cast<double>(order.size());
  double running_min = 1.0;
  for (size_t k = order.size(); k-- > 0;) {
    const double rank = static_cast<double>(k + 1);
    running_min = std::min(running_min, p[order[k]] * m / rank);
    q[order[k]] = running_min;
  }
  return q;
}

}  // namespace fpokit::analysis::stats
