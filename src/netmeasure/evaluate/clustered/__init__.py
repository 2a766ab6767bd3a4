"""Bounds for clustered samples that hold for every intra-cluster correlation up to a design
assumption, from sums an SQL engine computes per group and criterion.

netmeasure's design assumption: the intra-cluster correlation (ICC) of a criterion's
outcomes is at most ``ICC_MAX`` = 0.5 (docs/statistics.md; the study in
analysis/stats_study.py checks every method on a grid of ICC 0-0.5).

Methods and sources
-------------------
- Counts (shares, failure ratios, and the share below a quantile): the count K of one outcome
  over G clusters of sizes n_g is modelled as a sum of independent beta-binomials,
  BB(n_g, p, rho) (Skellam 1948, "A probability distribution derived from the binomial
  distribution by regarding the probability of success as variable between the sets of
  trials", JRSS B 10:257-261; rho = 1 / (a + b + 1) is the ICC). Its exact distribution is
  the convolution of the G pmfs (by FFT). The nuisance rho is eliminated by taking the
  supremum of the tail probability over rho in [0, ICC_MAX] (the maximised p-value: Berger &
  Boos 1994, "P values maximized over a confidence set for the nuisance parameter", JASA
  89(427):1012-1016, here with the whole assumed range as the set, so no gamma is spent).
  The test is exact for every rho in the range, needs only (K, the histogram of cluster
  sizes), and its bounds are found by inverting it (Clopper & Pearson 1934's construction).
  With rho = 0 only, it is Clopper-Pearson.
- Quantiles: by duality, X_(r) <= xi_q exactly when fewer than r samples lie below xi_q, and
  that count is the count above with p = q: the ranks of the sorted sample that bound a
  quantile come from the same worst-case distribution (David & Nagaraja 2003, "Order
  Statistics", §7.1, with the binomial replaced by the beta-binomial sum). No design effect
  is estimated, so neither Woodruff's (1952) deff at the quantile nor its degrees of freedom
  are needed, and a criterion's verdict is the same test at its threshold.
- Means: cluster-robust variance with the CR2 bias reduction and Bell-McCaffrey degrees of
  freedom (Bell & McCaffrey 2002, "Bias reduction in standard errors for linear regression
  with multi-stage samples", Survey Methodology 28(2):169-181; Imbens & Kolesár 2016,
  "Robust standard errors in small samples: some practical advice", REStat 98(4):701-712).
  For an intercept-only model both have closed forms in per-cluster sums (derived in
  docs/statistics.md); with equal cluster sizes they equal CR1 with G - 1 df.
- ICC estimates (reported, and flagged above ICC_MAX): the one-way ANOVA estimator (Fisher
  1925; for binary outcomes Ridout, Demétrio & Firth 1999, "Estimating intraclass
  correlation for binary data", Biometrics 55:137-148).

A single cluster gives no bound for any statistic.
"""

from __future__ import annotations
