# R survey's bounds on the datasets of analysis/stats_study.py (one dataset per CSV row).
# Usage: Rscript study_survey.R STAT FILE CLUSTERS SIZE CONFIDENCE
# STAT share: a row holds the G cluster counts of successes; svyciprop(method = "beta").
# STAT median / p5: a row holds G * SIZE values, cluster by cluster; svyquantile (Woodruff,
# the package's defaults: interval.type = "mean", qrule = "math", df = degf).
# Prints "low,high" per dataset: one-sided bounds at CONFIDENCE (two-sided level 2c - 1).
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
stat <- args[1]
x <- as.matrix(read.csv(args[2], header = FALSE))
g <- as.integer(args[3])
m <- as.integer(args[4])
conf <- as.numeric(args[5])
cl <- rep(seq_len(g), each = m)
out <- matrix(NA_real_, nrow(x), 2)
for (i in seq_len(nrow(x))) {
  if (stat == "share") {
    y <- unlist(lapply(seq_len(g), function(j) c(rep(1, x[i, j]), rep(0, m - x[i, j]))))
    des <- svydesign(ids = ~cl, data = data.frame(cl = cl, y = y))
    ci <- suppressWarnings(attr(svyciprop(~y, des, method = "beta", level = 2 * conf - 1), "ci"))
  } else {
    q <- if (stat == "median") 0.5 else 0.05
    des <- svydesign(ids = ~cl, data = data.frame(cl = cl, y = x[i, ]))
    r <- suppressWarnings(svyquantile(~y, des, q, alpha = 2 * (1 - conf)))
    ci <- r$y[1, 2:3]
  }
  out[i, ] <- as.numeric(ci)
}
write.table(out, stdout(), sep = ",", row.names = FALSE, col.names = FALSE)
