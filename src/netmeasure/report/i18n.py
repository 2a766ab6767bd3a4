"""Every fixed text of the report, in English and Vietnamese.

Keys are English identifiers; a missing translation is a bug that tests/test_report.py
catches (both languages must define the same keys).
"""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, str]] = {
    "report_title": "Measurement compliance report",
    "standard": "Standard",
    "authority": "Authority",
    "source": "Source",
    "operator": "Operator",
    "areas": "Areas",
    "period": "Measurement period",
    "samples_and_probes": "Samples and probes",
    "samples": "samples",
    "probes": "probes",
    "overall_verdict": "Overall verdict",
    "statistical_verdict": "Statistical verdict",
    "letter_verdict": "Letter of the rule",
    "verdict_PASS": "PASS",
    "verdict_FAIL": "FAIL",
    "verdict_INCONCLUSIVE": "INCONCLUSIVE",
    "plain_PASS": "The measurements show, at the stated confidence, that the service meets"
    " every criterion of the standard.",
    "plain_FAIL": "The measurements show that the service does not meet the standard, or that"
    " the sampling requirements were not met.",
    "plain_INCONCLUSIVE": "The measurements do not yet decide whether the service meets the"
    " standard: more samples are needed (see the summary).",
    "letter_explained": "The letter-of-the-rule verdict compares each point estimate with its"
    " threshold, as the rule's text reads; the statistical verdict asks"
    " whether the result survives sampling noise at the stated confidence.",
    "informative": "This standard is informative: guidance, not a binding rule.",
    "unverified": "Values not verified against the standard's primary text",
    "summary": "Summary of criteria",
    "group": "Group",
    "all_samples": "all samples",
    "criterion": "Criterion",
    "estimate": "Estimate",
    "bound_low": "Lower bound",
    "bound_high": "Upper bound",
    "threshold": "Threshold",
    "n": "n",
    "samples_needed": "Samples needed",
    "sampling": "Sampling sufficiency",
    "requirement": "Requirement",
    "required": "Required",
    "actual": "Actual",
    "met": "Met",
    "yes": "yes",
    "no": "no",
    "exclusions": "Exclusions by reason",
    "reason": "Reason",
    "count": "Count",
    "req_min_samples": "Minimum number of samples",
    "req_min_per_environment": "Minimum samples in environment",
    "req_min_spacing": "Minimum spacing between samples of a device (s)",
    "req_min_days": "Minimum number of measurement days",
    "req_min_hours": "Minimum number of hours of the day covered",
    "too_close": "pairs too close",
    "env_indoor": "indoor",
    "env_outdoor_fixed": "outdoor, fixed",
    "env_outdoor_mobile": "outdoor, mobile",
    "excl_technology": "technology not covered by the standard",
    "excl_invalid_value": "invalid value (missing, negative, not a number, absurd)",
    "excl_interrupted": "test interrupted by the operator of the probe",
    "excl_duplicate": "duplicate sample in several sources",
    "verdicts_by_group": "Verdict of each group",
    "cover_groups_note": "One verdict per group: the groups are judged separately, and no"
    " verdict is given for them together.",
    "cover_groups_large": "{n} groups: {counts}; the overview below lists them.",
    "excluded_most": "{label}: {n} of {total} samples excluded — {reason}",
    "keeps_only": "the standard keeps {techs} only",
    "col_operator": "Operator",
    "col_area": "Area",
    "col_environment": "Environment",
    "col_technology": "Technology",
    "col_probe_id": "Probe",
    "col_campaign": "Campaign",
    "col_day": "Day",
    "col_hour": "Hour",
    "issuer": "Issued by",
    "issuer_organisation": "Organisation",
    "issuer_address": "Address",
    "issuer_author": "Author",
    "issuer_document_number": "Document number",
    "issuer_test_server": "Test servers",
    "issuer_conditions": "Measurement conditions",
    "issuer_signatory": "Signatory",
    "issuer_place": "Place",
    "signature": "Signature and date",
    "excl_test_system": "test-system failure (test server busy or 5xx, probe tool missing or"
    " crashing): not charged to the operator",
    "excl_clock_unsynced": "probe clock never synchronised: time not trusted",
    "not_measured": "NOT MEASURED",
    "no_criterion": "the standard has no criterion for this indicator",
    "not_measured_note": "An indicator NOT MEASURED has no sample of its metric in these data:"
    " it is shown, and left out of the verdict, which covers the measured indicators only.",
    "indicator_other": "Other criteria",
    "access_delay": "access delay",
    "signal": "signal level",
    "charts": "Charts",
    "chart_ecdf": "Distribution of download and upload rates (share of samples at or below"
    " a rate), thresholds marked",
    "chart_latency": "Distribution of latency (round-trip time), thresholds marked",
    "chart_hours": "Samples by hour of the day",
    "chart_days": "Samples by day",
    "chart_groups": "Comparison of groups",
    "chart_map": "Locations of samples (from coordinates; no map tiles)",
    "chart_tech": "Tests by technology",
    "no_locations": "No sample carried coordinates: no location chart.",
    "rate_axis": "Rate (Mbit/s)",
    "latency_axis": "Latency (ms)",
    "share_axis": "Share of samples",
    "count_axis": "Samples",
    "hour_axis": "Hour of the day",
    "day_axis": "Day",
    "longitude": "Longitude",
    "latitude": "Latitude",
    "download": "download",
    "upload": "upload",
    "latency": "latency",
    "under_load": "under load",
    "passed_sample": "completed",
    "failed_sample": "failed",
    "probe_table": "Probes",
    "probe": "Probe",
    "environment": "Environment",
    "first": "First sample",
    "last": "Last sample",
    "appendix": "Appendix: list of tests",
    "appendix_more": "and {n} more tests, not listed (all are in the input data).",
    "probes_more": "and {n} more probes with fewer samples, not listed.",
    "time": "Time (UTC)",
    "test": "Test",
    "tool": "Tool",
    "target": "Target",
    "values": "Values",
    "result": "Result",
    "methodology": "Methodology",
    "valid_one_look": "This verdict is valid for one look: a campaign evaluated again and"
    " again and stopped at its first PASS has a far higher error rate (optional stopping)."
    " For verdicts valid at every look, evaluate under a campaign plan (--plan).",
    "valid_sequential": "Group-sequential verdict, look {look} of {looks} (information"
    " fraction {t}): sequentially valid, the error rate held over every look of the plan."
    " {stop}",
    "may_stop": "The verdict is decided: the campaign may stop.",
    "keep_measuring": "Not decided yet: the campaign continues to its next look.",
    "sequential_design": "Design: {spending}-type alpha spending (Lan & DeMets 1983; Jennison"
    " & Turnbull 2000) over {looks} looks, {planned} planned samples per group (plan file"
    " {path}, SHA-256 {sha}). At each look the bounds are taken at the look's nominal level"
    " ({nominal} one-sided at this look), the looks before it at the plan's fractions.",
    "method_confidence": "Every bound is one-sided at a confidence level of {c}; the two"
    " bounds together form a two-sided interval of level {c2}.",
    "method_clusters": "Samples are grouped in clusters ({cols}): samples of one cluster are"
    " correlated, so the bounds use the clusters, not the individual"
    " samples, as the units of variation.",
    "method_no_clusters": "Samples are treated as independent.",
    "method_t": "Means: Student's t bound, s/√n with n−1 degrees of freedom.",
    "method_t-cluster": "Means with clusters: cluster-robust standard error"
    " √(G/(G−1)·Σ s_g²)/n with G−1 degrees of freedom (Cameron & Miller"
    " 2015).",
    "method_clopper-pearson": "Shares and failure ratios: exact Clopper-Pearson bounds"
    " (Clopper & Pearson 1934), as ETSI TS 102 250-6 uses.",
    "method_korn-graubard": "Shares and failure ratios with clusters: Korn-Graubard (1998)"
    " — Clopper-Pearson on the effective sample size n/deff, with a"
    " degrees-of-freedom adjustment; where the design effect cannot"
    " be estimated, each cluster counts as one observation.",
    "method_order-statistic": "Medians and percentiles: distribution-free bounds from order"
    " statistics (binomial ranks).",
    "method_woodruff": "Medians and percentiles with clusters: Woodruff's method (1952).",
    "method_t-cluster-cr2": "Means with clusters: CR2 cluster-robust standard error with"
    " Bell-McCaffrey degrees of freedom (Bell & McCaffrey 2002).",
    "method_beta-binomial-worst-case": "Shares and failure ratios with clusters: an exact"
    " test of the count for every intra-cluster correlation up to 0.5 (beta-binomial,"
    " worst case), inverted into bounds.",
    "method_order-statistic-worst-case": "Medians and percentiles with clusters: order"
    " statistics whose ranks hold for every intra-cluster correlation up to 0.5.",
    "method_order-statistic-berger-boos": "Medians and percentiles with clusters: order"
    " statistics whose ranks come from an exact test of the count below the threshold,"
    " maximised over a confidence set for the intra-cluster correlation (Berger & Boos 1994).",
    "method_samples_needed": "Samples needed: the total number of samples at which the same"
    " estimate and spread would decide an inconclusive criterion.",
    "method_exclusions": "Samples of technologies the standard does not cover, invalid values"
    " and interrupted tests are excluded and counted by reason; failed"
    " tests are kept and count as failures.",
    "method_tools": "Measurement tools and versions",
    "provenance": "Provenance",
    "netmeasure_version": "netmeasure version",
    "standard_sha": "SHA-256 of the standard file",
    "data_sha": "SHA-256 of the input data",
    "generated": "Generated at (UTC)",
    "parameters": "Parameters of the standard",
    "audit": "Audit: exact values as computed",
    "audit_note": "The values below are exactly those of `netmeasure evaluate --json`, in SI"
    " units (bit/s, ms, ratio 0–1), so that every number in this report can be"
    " checked.",
    "overview": "Verdicts at a glance",
    "overview_note": "{n} groups. Count of groups per verdict, for each criterion and for the"
    " group as a whole (a group fails when a criterion fails or a sampling requirement is"
    " not met).",
    "overall_group": "Group verdict (all criteria and sampling)",
    "sampling_all_met": "Every sampling requirement met",
    "groups_table": "All groups, those needing attention first",
    "groups_table_note": "One line per group: FAIL first, then INCONCLUSIVE, then PASS; within"
    " each, the groups with more failing criteria and more samples first. Each criterion"
    ' shows its statistical verdict and its estimate; "sampling" counts the sampling'
    " requirements met.",
    "groups_more": "and {n} more groups ({counts}), not listed here. Every figure of every"
    " group is in the output of `netmeasure evaluate --json` run on the same standard"
    " (SHA-256 {sha}) and the same input data (SHA-256 under Provenance).",
    "sampling_met": "sampling",
    "detail_heading": "Groups needing attention, in detail",
    "detail_note": "The first {n} groups of the table above that fail or are inconclusive,"
    " with their bounds, the samples still needed, sampling and exclusions.",
    "detail_none": "No group fails or is inconclusive: every group is given by its line in the"
    " table above.",
    "audit_more": "and the {n} other groups' {k} criteria, not listed here: they are in"
    " `netmeasure evaluate --json` of the same inputs (SHA-256 above).",
    "chart_groups_first": "Comparison of groups: the first {n} of the table of groups (of {total})",
    "page": "Page {x} of {y}",
    "none": "none",
    # the live dashboard's interface (collector/static/dashboard; routes.py fills it)
    "dash_title": "netmeasure · live campaign",
    "dash_sub": "live campaign",
    "dash_skip": "Skip to the content",
    "dash_campaign": "Campaign",
    "dash_groups": "Groups",
    "dash_by_operator": "by operator",
    "dash_by_operator_area": "by operator and area",
    "dash_connecting": "connecting…",
    "dash_sign_out": "Sign out",
    "dash_views": "Views",
    "dash_overview": "Overview",
    "dash_over_time": "Over time",
    "dash_sampling": "Sampling",
    "dash_verdicts": "Verdicts",
    "dash_fleet": "Fleet",
    "dash_map": "Map",
    "dash_h_overview": "Where the campaign stands",
    "dash_h_over_time": "Rate and latency over time",
    "dash_series_note": "Hourly means of the completed tests the standard keeps, by the hour"
    " each test started (UTC).",
    "dash_h_sampling": "Sampling requirements",
    "dash_h_verdicts": "Statistical verdicts",
    "dash_bounds": "Bounds",
    "dash_letter": "Letter",
    "dash_statistical": "Statistical",
    "dash_probe": "Probe",
    "dash_state": "State",
    "dash_last_seen": "Last seen",
    "dash_measured_h": "Measured/h",
    "dash_measured_h_title": "Samples that started in the last hour (not uploads)",
    "dash_samples_col": "Samples",
    "dash_failures": "Failures",
    "dash_quarantined": "Quarantined",
    "dash_upload_lag": "Upload lag",
    "dash_colour": "Colour",
    "dash_mean_download": "mean download rate",
    "dash_failed_tests": "failed tests",
    "dash_verdict_hex": "statistical verdict per hexagon",
    "dash_all": "all",
    "dash_fit": "Fit to samples",
    "dash_footer": "Basemap: Natural Earth via world-atlas (ISC). Statistics: netmeasure evaluate.",
    "dash_series_download": "Mean download rate per hour",
    "dash_series_upload": "Mean upload rate per hour",
    "dash_series_latency": "Mean latency per hour",
    "dash_no_tests": "No completed tests yet.",
    "dash_stale_alert": "{n} probe(s) not heard from for more than {t}: {ids}",
    "dash_live": "live",
    "dash_stale": "STALE",
    "dash_drill": "Drill-down",
    "dash_all_operators": "All operators",
    "dash_last_test": "Last test started (UTC)",
    "dash_started": "Started (UTC)",
    "dash_metric": "Metric",
    "dash_value": "Value",
    "dash_outcome": "Outcome",
    "dash_recent": "its last {n} tests",
    "dash_aria_verdict_table": "Verdict table (scrolls)",
    "dash_aria_fleet_table": "Fleet table (scrolls)",
    "dash_zoom_in": "Zoom in",
    "dash_zoom_out": "Zoom out",
    "dash_aria_map": "Map of samples and H3 hexagons; arrow keys pan, plus and minus zoom",
    "dash_req_total": "Samples, total",
    "dash_req_env": "Samples, {env}",
    "dash_req_spacing": "Spacing ≥ {s} s per device",
    "dash_req_days": "Days with samples",
    "dash_req_hours": "Hours of the day covered",
    "dash_missing": "IN PROGRESS — {n} samples still missing",
    "dash_so_far": "statistical verdict so far: ",
    "dash_counts_one": "{n} samples · {p} probe",
    "dash_counts": "{n} samples · {p} probes",
    "dash_note_provisional": "Bounds: one-sided at {c} % each (netmeasure evaluate). Letter: the"
    " estimate against the threshold; statistical: the bound. Provisional — not valid for"
    " stopping: these bounds hold for one look; create a campaign plan (docs/plan.md) and start"
    " the dashboard with --plan CAMPAIGN=FILE to stop at the first decided look.",
    "dash_fleet_note": "{n} probes · {s} stale (not heard from for {t})",
    "dash_status": "{state} · {n} rows · checked {t}",
    "dash_reading": "reading the database…",
    "dash_lost": "connection lost, retrying…",
}

VI: Final[dict[str, str]] = {
    "report_title": "Báo cáo đánh giá sự phù hợp của kết quả đo",
    "standard": "Quy chuẩn",
    "authority": "Cơ quan ban hành",
    "source": "Căn cứ",
    "operator": "Doanh nghiệp",
    "areas": "Khu vực",
    "period": "Thời gian đo",
    "samples_and_probes": "Số mẫu và số thiết bị đo",
    "samples": "mẫu",
    "probes": "thiết bị đo",
    "overall_verdict": "Kết luận chung",
    "statistical_verdict": "Kết luận thống kê",
    "letter_verdict": "Kết luận theo câu chữ quy chuẩn",
    "verdict_PASS": "ĐẠT",
    "verdict_FAIL": "KHÔNG ĐẠT",
    "verdict_INCONCLUSIVE": "CHƯA ĐỦ CƠ SỞ KẾT LUẬN",
    "plain_PASS": "Kết quả đo cho thấy, với độ tin cậy đã nêu, dịch vụ đáp ứng mọi chỉ tiêu"
    " của quy chuẩn.",
    "plain_FAIL": "Kết quả đo cho thấy dịch vụ không đáp ứng quy chuẩn, hoặc yêu cầu về lấy"
    " mẫu chưa được đáp ứng.",
    "plain_INCONCLUSIVE": "Kết quả đo chưa đủ để kết luận dịch vụ có đáp ứng quy chuẩn hay"
    " không: cần thêm mẫu đo (xem bảng tổng hợp).",
    "letter_explained": "Kết luận theo câu chữ so sánh giá trị ước lượng của từng chỉ tiêu"
    " với ngưỡng, đúng như quy chuẩn viết; kết luận thống kê xét xem kết"
    " quả có còn đúng khi tính đến sai số lấy mẫu ở độ tin cậy đã nêu.",
    "informative": "Tiêu chuẩn này chỉ có tính tham khảo, không bắt buộc.",
    "unverified": "Các giá trị chưa được đối chiếu với văn bản gốc của quy chuẩn",
    "summary": "Tổng hợp các chỉ tiêu",
    "group": "Nhóm",
    "all_samples": "tất cả các mẫu",
    "criterion": "Chỉ tiêu",
    "estimate": "Giá trị ước lượng",
    "bound_low": "Cận dưới",
    "bound_high": "Cận trên",
    "threshold": "Ngưỡng",
    "n": "n",
    "samples_needed": "Số mẫu cần có",
    "sampling": "Mức đủ của mẫu đo",
    "requirement": "Yêu cầu",
    "required": "Yêu cầu tối thiểu",
    "actual": "Thực tế",
    "met": "Đáp ứng",
    "yes": "có",
    "no": "không",
    "exclusions": "Các mẫu bị loại theo lý do",
    "reason": "Lý do",
    "count": "Số lượng",
    "req_min_samples": "Số mẫu tối thiểu",
    "req_min_per_environment": "Số mẫu tối thiểu trong điều kiện đo",
    "req_min_spacing": "Khoảng cách tối thiểu giữa hai mẫu của một thiết bị (giây)",
    "req_min_days": "Số ngày đo tối thiểu",
    "req_min_hours": "Số giờ trong ngày tối thiểu được đo",
    "too_close": "cặp mẫu quá gần nhau",
    "env_indoor": "trong nhà",
    "env_outdoor_fixed": "ngoài trời, cố định",
    "env_outdoor_mobile": "ngoài trời, di động",
    "excl_technology": "công nghệ không thuộc phạm vi quy chuẩn",
    "excl_invalid_value": "giá trị không hợp lệ (thiếu, âm, không phải số, phi lý)",
    "excl_interrupted": "phép đo bị người vận hành thiết bị dừng giữa chừng",
    "excl_duplicate": "mẫu trùng lặp trong nhiều nguồn dữ liệu",
    "verdicts_by_group": "Kết luận của từng nhóm",
    "cover_groups_note": "Mỗi nhóm một kết luận: các nhóm được đánh giá riêng, không có kết"
    " luận chung cho tất cả các nhóm.",
    "cover_groups_large": "{n} nhóm: {counts}; danh sách ở phần tổng quan bên dưới.",
    "excluded_most": "{label}: {n} trên {total} mẫu bị loại — {reason}",
    "keeps_only": "quy chuẩn chỉ áp dụng cho {techs}",
    "col_operator": "Doanh nghiệp",
    "col_area": "Khu vực",
    "col_environment": "Điều kiện đo",
    "col_technology": "Công nghệ",
    "col_probe_id": "Thiết bị đo",
    "col_campaign": "Đợt đo",
    "col_day": "Ngày",
    "col_hour": "Giờ",
    "issuer": "Đơn vị ban hành",
    "issuer_organisation": "Tổ chức",
    "issuer_address": "Địa chỉ",
    "issuer_author": "Người lập",
    "issuer_document_number": "Số văn bản",
    "issuer_test_server": "Máy chủ đo",
    "issuer_conditions": "Điều kiện đo",
    "issuer_signatory": "Người ký",
    "issuer_place": "Nơi ký",
    "signature": "Chữ ký và ngày ký",
    "excl_test_system": "lỗi của hệ thống đo (máy chủ đo bận hoặc lỗi 5xx, công cụ đo thiếu"
    " hoặc bị lỗi): không tính cho doanh nghiệp",
    "excl_clock_unsynced": "đồng hồ thiết bị đo chưa được đồng bộ: thời gian không tin cậy",
    "not_measured": "CHƯA ĐO",
    "no_criterion": "quy chuẩn không có tiêu chí cho chỉ tiêu này",
    "not_measured_note": "Chỉ tiêu CHƯA ĐO không có mẫu đo nào trong dữ liệu này: chỉ tiêu"
    " vẫn được trình bày, nhưng không được tính vào kết luận, vốn chỉ dựa trên các chỉ tiêu"
    " đã đo.",
    "indicator_other": "Các tiêu chí khác",
    "access_delay": "thời gian trễ truy nhập",
    "signal": "mức tín hiệu",
    "charts": "Biểu đồ",
    "chart_ecdf": "Phân bố tốc độ tải xuống và tải lên (tỷ lệ mẫu có tốc độ không vượt quá"
    " một giá trị), có đánh dấu ngưỡng",
    "chart_latency": "Phân bố độ trễ (thời gian khứ hồi), có đánh dấu ngưỡng",
    "chart_hours": "Số mẫu theo giờ trong ngày",
    "chart_days": "Số mẫu theo ngày",
    "chart_groups": "So sánh giữa các nhóm",
    "chart_map": "Vị trí các mẫu đo (theo tọa độ; không dùng bản đồ nền)",
    "chart_tech": "Số phép đo theo công nghệ",
    "no_locations": "Không mẫu nào có tọa độ: không có biểu đồ vị trí.",
    "rate_axis": "Tốc độ (Mbit/s)",
    "latency_axis": "Độ trễ (ms)",
    "share_axis": "Tỷ lệ mẫu",
    "count_axis": "Số mẫu",
    "hour_axis": "Giờ trong ngày",
    "day_axis": "Ngày",
    "longitude": "Kinh độ",
    "latitude": "Vĩ độ",
    "download": "tải xuống",
    "upload": "tải lên",
    "latency": "độ trễ",
    "under_load": "khi có tải",
    "passed_sample": "thành công",
    "failed_sample": "không thành công",
    "probe_table": "Thiết bị đo",
    "probe": "Thiết bị",
    "environment": "Điều kiện đo",
    "first": "Mẫu đầu tiên",
    "last": "Mẫu cuối cùng",
    "appendix": "Phụ lục: danh sách phép đo",
    "appendix_more": "và {n} phép đo khác không liệt kê (tất cả đều có trong dữ liệu đầu vào).",
    "probes_more": "và {n} thiết bị đo khác có ít mẫu hơn, không liệt kê.",
    "time": "Thời điểm (UTC)",
    "test": "Phép đo",
    "tool": "Công cụ",
    "target": "Máy chủ đo",
    "values": "Giá trị",
    "result": "Kết quả",
    "methodology": "Phương pháp",
    "valid_one_look": "Kết luận này chỉ có giá trị cho một lần xem: một đợt đo được đánh giá"
    " nhiều lần và dừng ở lần ĐẠT đầu tiên có tỷ lệ sai cao hơn nhiều (dừng tùy ý). Để có kết"
    " luận có giá trị ở mọi lần xem, hãy đánh giá theo kế hoạch đợt đo (--plan).",
    "valid_sequential": "Kết luận tuần tự theo nhóm, lần xem {look}/{looks} (tỷ lệ thông"
    " tin {t}): có giá trị tuần tự, tỷ lệ sai được giữ qua mọi lần xem của kế hoạch. {stop}",
    "may_stop": "Kết luận đã được xác định: đợt đo có thể dừng.",
    "keep_measuring": "Chưa xác định: đợt đo tiếp tục đến lần xem sau.",
    "sequential_design": "Thiết kế: phân bổ alpha kiểu {spending} (Lan & DeMets 1983;"
    " Jennison & Turnbull 2000) qua {looks} lần xem, {planned} mẫu dự kiến mỗi nhóm (tệp kế"
    " hoạch {path}, SHA-256 {sha}). Ở mỗi lần xem các cận được tính ở mức danh nghĩa của lần"
    " xem đó ({nominal} một phía ở lần này), các lần xem trước theo tỷ lệ của kế hoạch.",
    "method_confidence": "Mỗi cận là cận một phía với độ tin cậy {c}; hai cận hợp thành"
    " khoảng tin cậy hai phía với độ tin cậy {c2}.",
    "method_clusters": "Các mẫu được nhóm thành cụm ({cols}): các mẫu trong một cụm có tương"
    " quan với nhau, nên các cận được tính theo cụm chứ không theo từng"
    " mẫu riêng lẻ.",
    "method_no_clusters": "Các mẫu được coi là độc lập.",
    "method_t": "Giá trị trung bình: cận theo phân phối Student t, s/√n với n−1 bậc tự do.",
    "method_t-cluster": "Giá trị trung bình khi có cụm: sai số chuẩn vững theo cụm"
    " √(G/(G−1)·Σ s_g²)/n với G−1 bậc tự do (Cameron & Miller 2015).",
    "method_clopper-pearson": "Tỷ lệ mẫu và tỷ lệ không thành công: cận chính xác"
    " Clopper-Pearson (Clopper & Pearson 1934), như ETSI TS 102"
    " 250-6 sử dụng.",
    "method_korn-graubard": "Tỷ lệ khi có cụm: phương pháp Korn-Graubard (1998) —"
    " Clopper-Pearson trên cỡ mẫu hiệu dụng n/deff, có hiệu chỉnh bậc"
    " tự do; khi không ước lượng được hệ số thiết kế, mỗi cụm được"
    " tính là một quan sát.",
    "method_order-statistic": "Trung vị và phân vị: cận phi tham số theo thống kê thứ tự"
    " (hạng nhị thức).",
    "method_woodruff": "Trung vị và phân vị khi có cụm: phương pháp Woodruff (1952).",
    "method_t-cluster-cr2": "Giá trị trung bình khi có cụm: sai số chuẩn vững theo cụm CR2"
    " với bậc tự do Bell-McCaffrey (Bell & McCaffrey 2002).",
    "method_beta-binomial-worst-case": "Tỷ lệ khi có cụm: kiểm định chính xác trên số đếm,"
    " đúng với mọi hệ số tương quan nội cụm đến 0,5 (beta-nhị thức, trường hợp xấu nhất),"
    " đảo ngược thành các cận.",
    "method_order-statistic-worst-case": "Trung vị và phân vị khi có cụm: thống kê thứ tự"
    " với hạng đúng cho mọi hệ số tương quan nội cụm đến 0,5.",
    "method_order-statistic-berger-boos": "Trung vị và phân vị khi có cụm: thống kê thứ tự"
    " với hạng từ kiểm định chính xác trên số mẫu dưới ngưỡng, lấy cực đại trên một tập tin"
    " cậy của hệ số tương quan nội cụm (Berger & Boos 1994).",
    "method_samples_needed": "Số mẫu cần có: tổng số mẫu mà với cùng giá trị ước lượng và độ"
    " phân tán sẽ đủ để kết luận một chỉ tiêu chưa kết luận được.",
    "method_exclusions": "Mẫu của công nghệ không thuộc phạm vi quy chuẩn, giá trị không hợp"
    " lệ và phép đo bị dừng giữa chừng được loại và đếm theo lý do; phép"
    " đo không thành công được giữ lại và tính là không thành công.",
    "method_tools": "Công cụ đo và phiên bản",
    "provenance": "Nguồn gốc",
    "netmeasure_version": "Phiên bản netmeasure",
    "standard_sha": "SHA-256 của tệp quy chuẩn",
    "data_sha": "SHA-256 của dữ liệu đầu vào",
    "generated": "Thời điểm lập báo cáo (UTC)",
    "parameters": "Tham số của quy chuẩn",
    "audit": "Kiểm tra: giá trị chính xác như đã tính",
    "audit_note": "Các giá trị dưới đây đúng như kết quả của `netmeasure evaluate --json`,"
    " theo đơn vị SI (bit/s, ms, tỷ lệ 0–1), để có thể kiểm tra mọi con số"
    " trong báo cáo.",
    "overview": "Tổng quan kết luận",
    "overview_note": "{n} nhóm. Số nhóm theo từng kết luận, cho mỗi chỉ tiêu và cho cả nhóm"
    " (một nhóm không đạt khi có chỉ tiêu không đạt hoặc một yêu cầu lấy mẫu không được"
    " đáp ứng).",
    "overall_group": "Kết luận của nhóm (mọi chỉ tiêu và yêu cầu lấy mẫu)",
    "sampling_all_met": "Đáp ứng mọi yêu cầu lấy mẫu",
    "groups_table": "Tất cả các nhóm, nhóm cần chú ý trước",
    "groups_table_note": "Mỗi nhóm một dòng: KHÔNG ĐẠT trước, rồi CHƯA ĐỦ CƠ SỞ KẾT LUẬN, rồi ĐẠT;"
    " trong mỗi loại, nhóm có nhiều chỉ tiêu không đạt hơn và nhiều mẫu hơn đứng trước. Mỗi"
    ' chỉ tiêu ghi kết luận thống kê và giá trị ước lượng; "lấy mẫu" là số yêu cầu lấy'
    " mẫu được đáp ứng.",
    "groups_more": "và {n} nhóm khác ({counts}) không liệt kê ở đây. Mọi số liệu của mọi nhóm"
    " có trong kết quả của `netmeasure evaluate --json` chạy với cùng quy chuẩn (SHA-256"
    " {sha}) và cùng dữ liệu đầu vào (SHA-256 ở mục Nguồn gốc).",
    "sampling_met": "lấy mẫu",
    "detail_heading": "Chi tiết các nhóm cần chú ý",
    "detail_note": "{n} nhóm đầu tiên của bảng trên không đạt hoặc chưa đủ cơ sở kết luận,"
    " với các giới hạn, số mẫu còn cần, yêu cầu lấy mẫu và các mẫu bị loại.",
    "detail_none": "Không có nhóm nào không đạt hoặc chưa kết luận: mỗi nhóm được thể hiện"
    " bằng dòng của nó trong bảng trên.",
    "audit_more": "và {k} chỉ tiêu của {n} nhóm khác, không liệt kê ở đây: có trong"
    " `netmeasure evaluate --json` với cùng dữ liệu đầu vào (SHA-256 ở trên).",
    "chart_groups_first": "So sánh giữa các nhóm: {n} nhóm đầu của bảng các nhóm (trên tổng"
    " số {total})",
    "page": "Trang {x} / {y}",
    "none": "không có",
    # the live dashboard's interface (collector/static/dashboard; routes.py fills it)
    "dash_title": "netmeasure · chiến dịch đang đo",
    "dash_sub": "chiến dịch đang đo",
    "dash_skip": "Chuyển đến nội dung",
    "dash_campaign": "Chiến dịch",
    "dash_groups": "Phân nhóm",
    "dash_by_operator": "theo doanh nghiệp",
    "dash_by_operator_area": "theo doanh nghiệp và khu vực",
    "dash_connecting": "đang kết nối…",
    "dash_sign_out": "Đăng xuất",
    "dash_views": "Các mục",
    "dash_overview": "Tổng quan",
    "dash_over_time": "Theo thời gian",
    "dash_sampling": "Lấy mẫu",
    "dash_verdicts": "Kết luận",
    "dash_fleet": "Thiết bị đo",
    "dash_map": "Bản đồ",
    "dash_h_overview": "Tình hình chiến dịch",
    "dash_h_over_time": "Tốc độ và độ trễ theo thời gian",
    "dash_series_note": "Giá trị trung bình theo giờ của các phép đo hoàn tất mà quy chuẩn"
    " giữ lại, theo giờ bắt đầu đo (UTC).",
    "dash_h_sampling": "Yêu cầu lấy mẫu",
    "dash_h_verdicts": "Kết luận thống kê",
    "dash_bounds": "Khoảng tin cậy",
    "dash_letter": "Theo câu chữ",
    "dash_statistical": "Thống kê",
    "dash_probe": "Thiết bị",
    "dash_state": "Trạng thái",
    "dash_last_seen": "Lần nhận cuối",
    "dash_measured_h": "Số đo/giờ",
    "dash_measured_h_title": "Số mẫu bắt đầu đo trong một giờ qua (không phải số mẫu tải lên)",
    "dash_samples_col": "Số mẫu",
    "dash_failures": "Lỗi",
    "dash_quarantined": "Bị cách ly",
    "dash_upload_lag": "Độ trễ tải lên",
    "dash_colour": "Tô màu",
    "dash_mean_download": "tốc độ tải xuống trung bình",
    "dash_failed_tests": "phép đo lỗi",
    "dash_verdict_hex": "kết luận thống kê theo ô lục giác",
    "dash_all": "tất cả",
    "dash_fit": "Vừa khung dữ liệu",
    "dash_footer": "Bản đồ nền: Natural Earth qua world-atlas (ISC). Thống kê:"
    " netmeasure evaluate.",
    "dash_series_download": "Tốc độ tải xuống trung bình theo giờ",
    "dash_series_upload": "Tốc độ tải lên trung bình theo giờ",
    "dash_series_latency": "Độ trễ trung bình theo giờ",
    "dash_no_tests": "Chưa có phép đo hoàn tất.",
    "dash_stale_alert": "{n} thiết bị đo không gửi dữ liệu quá {t}: {ids}",
    "dash_live": "đang gửi",
    "dash_stale": "MẤT LIÊN LẠC",
    "dash_drill": "Chi tiết",
    "dash_all_operators": "Tất cả doanh nghiệp",
    "dash_last_test": "Lần đo cuối bắt đầu (UTC)",
    "dash_started": "Bắt đầu (UTC)",
    "dash_metric": "Đại lượng",
    "dash_value": "Giá trị",
    "dash_outcome": "Kết quả",
    "dash_recent": "{n} phép đo gần nhất",
    "dash_aria_verdict_table": "Bảng kết luận (cuộn được)",
    "dash_aria_fleet_table": "Bảng thiết bị đo (cuộn được)",
    "dash_zoom_in": "Phóng to",
    "dash_zoom_out": "Thu nhỏ",
    "dash_aria_map": "Bản đồ các mẫu và ô lục giác H3; phím mũi tên để di chuyển, phím cộng và"
    " trừ để phóng to, thu nhỏ",
    "dash_req_total": "Số mẫu, tổng",
    "dash_req_env": "Số mẫu, {env}",
    "dash_req_spacing": "Khoảng cách ≥ {s} s trên mỗi thiết bị",
    "dash_req_days": "Số ngày có mẫu",
    "dash_req_hours": "Số giờ trong ngày có mẫu",
    "dash_missing": "ĐANG ĐO — còn thiếu {n} mẫu",
    "dash_so_far": "kết luận thống kê đến nay: ",
    "dash_counts_one": "{n} mẫu · {p} thiết bị đo",
    "dash_counts": "{n} mẫu · {p} thiết bị đo",
    "dash_note_provisional": "Khoảng tin cậy: một phía, mỗi phía {c} % (netmeasure evaluate)."
    " Theo câu chữ: giá trị ước lượng so với ngưỡng; thống kê: giới hạn của khoảng tin cậy. Tạm"
    " thời — chưa dùng được để dừng đo: các giới hạn này chỉ đúng cho một lần xem; hãy lập kế"
    " hoạch chiến dịch (docs/plan.md) và chạy dashboard với --plan CAMPAIGN=FILE để dừng ở lần"
    " xem đầu tiên đã có kết luận.",
    "dash_fleet_note": "{n} thiết bị đo · {s} mất liên lạc (không gửi dữ liệu quá {t})",
    "dash_status": "{state} · {n} dòng · kiểm tra lúc {t}",
    "dash_reading": "đang đọc cơ sở dữ liệu…",
    "dash_lost": "mất kết nối, đang thử lại…",
}

LANGUAGES: Final = {"en": EN, "vi": VI}


def texts(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (use {', '.join(LANGUAGES)})")
    return LANGUAGES[lang]
