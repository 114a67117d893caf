#pragma once
// Student's t distribution for the paired t-test of the drift report (docs/drift-statistics.md,
// 'Sequence-level test'), through the regularized incomplete beta function:
//   P(|T| > |t|) = I_x(df/2, 1/2),  x = df / (df + t^2),
// with I evaluated by the continued fraction of Numerical Recipes §6.4 (modified Lentz), using the
// symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the side where it converges fast. Relative accuracy
// ~1e-13 for df up to ~1e4 (lgamma rounding grows slowly with df beyond that).
namespace fpokit::analysis::stats {

// I_x(a, b) for a, b > 0 and x in [0, 1]; `y` must be 1 - x, passed separately so that callers
// with x close to 1 keep the precision of y. InputError for arguments outside the domain.
double regularized_incomplete_beta(double a, double b, double x, double y);
double regularized_incomplete_beta(double a, double b, double x);

// P(T <= t) for T ~ t(df), df > 0 (InputError otherwise); NaN for t = NaN.
double student_t_cdf(double t, double df);

// Two-sided p-value P(|T| >= |t|) for T ~ t(df); 0 for infinite t, NaN for t = NaN.
double student_t_two_sided_p(double t, double df);

}  // namespace fpokit::analysis::stats
