# Bounds from R's survey package (Lumley) for tests/test_r_survey.py.
# Usage: Rscript survey_bounds.R DATA.csv CONFIDENCE
# DATA.csv has columns cl (cluster; all equal for an unclustered design), y (a value) and
# ok (0/1). Prints "name,value" lines with 17 significant digits; the bounds are one-sided at
# CONFIDENCE, i.e. two-sided intervals at level 2c - 1.
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
conf <- as.numeric(args[2])
level <- 2 * conf - 1
out <- function(name, value) cat(name, ",", format(value, digits = 17), "\n", sep = "")
for (design in c("srs", "cluster")) {
  des <- if (design == "srs") svydesign(ids = ~1, data = d) else svydesign(ids = ~cl, data = d)
  out(paste0(design, "_degf"), degf(des))
  m <- svymean(~y, des)
  ci <- confint(m, level = level, df = degf(des))
  out(paste0(design, "_mean"), coef(m)[1])
  out(paste0(design, "_mean_se"), SE(m)[1])
  out(paste0(design, "_mean_low"), ci[1])
  out(paste0(design, "_mean_high"), ci[2])
  p <- suppressWarnings(svyciprop(~ok, des, method = "beta", level = level))
  out(paste0(design, "_share"), as.numeric(p))
  out(paste0(design, "_share_low"), attr(p, "ci")[1])
  out(paste0(design, "_share_high"), attr(p, "ci")[2])
  for (q in c(0.05, 0.5)) {
    tag <- paste0(design, "_q", round(100 * q))
    h7 <- svyquantile(~y, des, q, qrule = "hf7", ci = FALSE)
    out(paste0(tag, "_hf7"), as.numeric(h7$y[1]))
    w <- suppressWarnings(svyquantile(~y, des, q, alpha = 2 * (1 - conf)))
    out(paste0(tag, "_low"), w$y[1, 2])
    out(paste0(tag, "_high"), w$y[1, 3])
  }
}
