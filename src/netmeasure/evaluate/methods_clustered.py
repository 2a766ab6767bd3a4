"""The clustered methods at their former address: netmeasure.evaluate.clustered holds them,
one module per method (design, distribution, counts, quantiles, means, icc, planning)."""

from __future__ import annotations

from netmeasure.evaluate.clustered.counts import (
    _CONFIRM_HALF_WIDTH as _CONFIRM_HALF_WIDTH,
)
from netmeasure.evaluate.clustered.counts import (
    _EPS as _EPS,
)
from netmeasure.evaluate.clustered.counts import (
    _QUICK_STAGES as _QUICK_STAGES,
)
from netmeasure.evaluate.clustered.counts import (
    _RHO_TOP as _RHO_TOP,
)
from netmeasure.evaluate.clustered.counts import (
    _RHOS_POSITIVE as _RHOS_POSITIVE,
)
from netmeasure.evaluate.clustered.counts import (
    METHOD_COUNT as METHOD_COUNT,
)
from netmeasure.evaluate.clustered.counts import (
    CountBounds as CountBounds,
)
from netmeasure.evaluate.clustered.counts import (
    _brentq as _brentq,
)
from netmeasure.evaluate.clustered.counts import (
    _checked as _checked,
)
from netmeasure.evaluate.clustered.counts import (
    _count_roots as _count_roots,
)
from netmeasure.evaluate.clustered.counts import (
    _first as _first,
)
from netmeasure.evaluate.clustered.counts import (
    _inverse_quadratic as _inverse_quadratic,
)
from netmeasure.evaluate.clustered.counts import (
    _normal_guess as _normal_guess,
)
from netmeasure.evaluate.clustered.counts import (
    _root as _root,
)
from netmeasure.evaluate.clustered.counts import (
    _root_function as _root_function,
)
from netmeasure.evaluate.clustered.counts import (
    _spread as _spread,
)
from netmeasure.evaluate.clustered.counts import (
    _sup_tails as _sup_tails,
)
from netmeasure.evaluate.clustered.counts import (
    _z as _z,
)
from netmeasure.evaluate.clustered.counts import (
    _z_array as _z_array,
)
from netmeasure.evaluate.clustered.counts import (
    exceeds as exceeds,
)
from netmeasure.evaluate.clustered.counts import (
    falls_short as falls_short,
)
from netmeasure.evaluate.clustered.counts import (
    pass_region as pass_region,
)
from netmeasure.evaluate.clustered.counts import (
    proportion_bounds as proportion_bounds,
)
from netmeasure.evaluate.clustered.design import (
    EXACT_UP_TO as EXACT_UP_TO,
)
from netmeasure.evaluate.clustered.design import (
    ICC_MAX as ICC_MAX,
)
from netmeasure.evaluate.clustered.design import (
    MAX_SIZE_HISTOGRAM as MAX_SIZE_HISTOGRAM,
)
from netmeasure.evaluate.clustered.design import (
    PLANNING_EXACT_UP_TO as PLANNING_EXACT_UP_TO,
)
from netmeasure.evaluate.clustered.design import (
    RHO_GRID as RHO_GRID,
)
from netmeasure.evaluate.clustered.design import (
    ClusterSizes as ClusterSizes,
)
from netmeasure.evaluate.clustered.design import (
    alpha_of as alpha_of,
)
from netmeasure.evaluate.clustered.distribution import (
    _DIRECT_DFT_UP_TO as _DIRECT_DFT_UP_TO,
)
from netmeasure.evaluate.clustered.distribution import (
    _LOG_NEGLIGIBLE as _LOG_NEGLIGIBLE,
)
from netmeasure.evaluate.clustered.distribution import (
    _POLAR_FROM as _POLAR_FROM,
)
from netmeasure.evaluate.clustered.distribution import (
    _THETAS as _THETAS,
)
from netmeasure.evaluate.clustered.distribution import (
    TRUNCATION_MASS as TRUNCATION_MASS,
)
from netmeasure.evaluate.clustered.distribution import (
    _bb_pmfs as _bb_pmfs,
)
from netmeasure.evaluate.clustered.distribution import (
    _degenerate as _degenerate,
)
from netmeasure.evaluate.clustered.distribution import (
    _dft_matrix as _dft_matrix,
)
from netmeasure.evaluate.clustered.distribution import (
    _most_frequent_negligible_from as _most_frequent_negligible_from,
)
from netmeasure.evaluate.clustered.distribution import (
    _normal_tail as _normal_tail,
)
from netmeasure.evaluate.clustered.distribution import (
    _ones_only as _ones_only,
)
from netmeasure.evaluate.clustered.distribution import (
    _pmf_rows as _pmf_rows,
)
from netmeasure.evaluate.clustered.distribution import (
    _size_grid as _size_grid,
)
from netmeasure.evaluate.clustered.distribution import (
    _size_plan as _size_plan,
)
from netmeasure.evaluate.clustered.distribution import (
    _SizeGrid as _SizeGrid,
)
from netmeasure.evaluate.clustered.distribution import (
    _SizePlan as _SizePlan,
)
from netmeasure.evaluate.clustered.distribution import (
    _support as _support,
)
from netmeasure.evaluate.clustered.distribution import (
    _tail_high as _tail_high,
)
from netmeasure.evaluate.clustered.distribution import (
    _tail_low as _tail_low,
)
from netmeasure.evaluate.clustered.distribution import (
    _tail_none as _tail_none,
)
from netmeasure.evaluate.clustered.distribution import (
    _transform as _transform,
)
from netmeasure.evaluate.clustered.distribution import (
    _truncated_pmf as _truncated_pmf,
)
from netmeasure.evaluate.clustered.distribution import (
    tail_at_least as tail_at_least,
)
from netmeasure.evaluate.clustered.distribution import (
    tail_at_most as tail_at_most,
)
from netmeasure.evaluate.clustered.icc import (
    _median_count as _median_count,
)
from netmeasure.evaluate.clustered.icc import (
    icc_anova as icc_anova,
)
from netmeasure.evaluate.clustered.icc import (
    icc_binary as icc_binary,
)
from netmeasure.evaluate.clustered.icc import (
    icc_values as icc_values,
)
from netmeasure.evaluate.clustered.means import (
    METHOD_MEAN as METHOD_MEAN,
)
from netmeasure.evaluate.clustered.means import (
    MeanBounds as MeanBounds,
)
from netmeasure.evaluate.clustered.means import (
    MeanSums as MeanSums,
)
from netmeasure.evaluate.clustered.means import (
    bell_mccaffrey_df as bell_mccaffrey_df,
)
from netmeasure.evaluate.clustered.means import (
    bell_mccaffrey_df_equal as bell_mccaffrey_df_equal,
)
from netmeasure.evaluate.clustered.means import (
    mean_bounds_at as mean_bounds_at,
)
from netmeasure.evaluate.clustered.means import (
    mean_cr2 as mean_cr2,
)
from netmeasure.evaluate.clustered.planning import (
    _smallest as _smallest,
)
from netmeasure.evaluate.clustered.planning import (
    samples_needed_count as samples_needed_count,
)
from netmeasure.evaluate.clustered.planning import (
    samples_needed_mean as samples_needed_mean,
)
from netmeasure.evaluate.clustered.planning import (
    samples_needed_quantile as samples_needed_quantile,
)
from netmeasure.evaluate.clustered.quantiles import (
    _TILT as _TILT,
)
from netmeasure.evaluate.clustered.quantiles import (
    BB_MAX_CLUSTERS as BB_MAX_CLUSTERS,
)
from netmeasure.evaluate.clustered.quantiles import (
    BB_MIN_MEAN_SIZE as BB_MIN_MEAN_SIZE,
)
from netmeasure.evaluate.clustered.quantiles import (
    BB_RHOS as BB_RHOS,
)
from netmeasure.evaluate.clustered.quantiles import (
    DISPERSION_LATTICE as DISPERSION_LATTICE,
)
from netmeasure.evaluate.clustered.quantiles import (
    DISPERSION_SLACK as DISPERSION_SLACK,
)
from netmeasure.evaluate.clustered.quantiles import (
    GAMMA_MEDIAN as GAMMA_MEDIAN,
)
from netmeasure.evaluate.clustered.quantiles import (
    GAMMA_PERCENTILE as GAMMA_PERCENTILE,
)
from netmeasure.evaluate.clustered.quantiles import (
    METHOD_QUANTILE_BB as METHOD_QUANTILE_BB,
)
from netmeasure.evaluate.clustered.quantiles import (
    METHOD_QUANTILE_WORST as METHOD_QUANTILE_WORST,
)
from netmeasure.evaluate.clustered.quantiles import (
    QuantileRanks as QuantileRanks,
)
from netmeasure.evaluate.clustered.quantiles import (
    _alpha_less as _alpha_less,
)
from netmeasure.evaluate.clustered.quantiles import (
    _bb_ranks as _bb_ranks,
)
from netmeasure.evaluate.clustered.quantiles import (
    _binomial_pmfs as _binomial_pmfs,
)
from netmeasure.evaluate.clustered.quantiles import (
    _dispersion_cdf as _dispersion_cdf,
)
from netmeasure.evaluate.clustered.quantiles import (
    _DispersionCdf as _DispersionCdf,
)
from netmeasure.evaluate.clustered.quantiles import (
    _icc_tops as _icc_tops,
)
from netmeasure.evaluate.clustered.quantiles import (
    _IccTops as _IccTops,
)
from netmeasure.evaluate.clustered.quantiles import (
    _lattice_span as _lattice_span,
)
from netmeasure.evaluate.clustered.quantiles import (
    _power_product as _power_product,
)
from netmeasure.evaluate.clustered.quantiles import (
    _rhos_up_to as _rhos_up_to,
)
from netmeasure.evaluate.clustered.quantiles import (
    _term_values as _term_values,
)
from netmeasure.evaluate.clustered.quantiles import (
    berger_boos_applies as berger_boos_applies,
)
from netmeasure.evaluate.clustered.quantiles import (
    dispersion_max as dispersion_max,
)
from netmeasure.evaluate.clustered.quantiles import (
    dispersion_scaled as dispersion_scaled,
)
from netmeasure.evaluate.clustered.quantiles import (
    icc_set_top as icc_set_top,
)
from netmeasure.evaluate.clustered.quantiles import (
    quantile_gamma as quantile_gamma,
)
from netmeasure.evaluate.clustered.quantiles import (
    quantile_pvalues_bb as quantile_pvalues_bb,
)
from netmeasure.evaluate.clustered.quantiles import (
    quantile_ranks as quantile_ranks,
)
from netmeasure.evaluate.clustered.quantiles import (
    quantile_ranks_bb as quantile_ranks_bb,
)
