#pragma once
// Benjamini–Hochberg q-values (adjusted p-values) for the drift report's per-feature tests
// (docs/drift-statistics.md, 'Multiple testing'): with the m non-NaN p-values sorted ascending,
//   q_(i) = min over j >= i of min(1, m p_(j) / j),
// the step-up form, monotone in p. Rejecting q < alpha controls the false discovery rate at alpha
// for independent or positively dependent tests. NaN p-values (features without a test) stay NaN
// and do not count in m, so dead features do not dilute the correction.
#include <Eigen/Core>

namespace fpokit::analysis::stats {

// InputError when a non-NaN p is outside [0, 1].
Eigen::VectorXd benjamini_hochberg(const Eigen::VectorXd& p);

}  // namespace fpokit::analysis::stats
