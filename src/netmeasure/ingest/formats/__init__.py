"""One pure parser per format: ``parse(origin, overrides) -> Iterator[Sample]``.

Each raises ParseError naming the file and, where there is one, the line; never anything
else (tests/test_import.py feeds mutated fixtures to every parser to hold them to it).
Units are converted with the named helpers of netmeasure.units.

One module per format; this package's namespace holds every parser (and its constants) at
the address the importer and the tests use.
"""

from __future__ import annotations

from netmeasure.ingest.formats.common import (
    Parser as Parser,
)
from netmeasure.ingest.formats.common import (
    _json as _json,
)
from netmeasure.ingest.formats.common import (
    _json_records as _json_records,
)
from netmeasure.ingest.formats.common import (
    _obj as _obj,
)
from netmeasure.ingest.formats.common import (
    _sub as _sub,
)
from netmeasure.ingest.formats.iperf3 import (
    _iperf3_empty_directions as _iperf3_empty_directions,
)
from netmeasure.ingest.formats.iperf3 import (
    iperf3 as iperf3,
)
from netmeasure.ingest.formats.iperf3 import (
    iperf3_direction as iperf3_direction,
)
from netmeasure.ingest.formats.librespeed import (
    LIBRESPEED_CSV_HEADER as LIBRESPEED_CSV_HEADER,
)
from netmeasure.ingest.formats.librespeed import (
    _librespeed_row as _librespeed_row,
)
from netmeasure.ingest.formats.librespeed import (
    librespeed_csv as librespeed_csv,
)
from netmeasure.ingest.formats.librespeed import (
    librespeed_json as librespeed_json,
)
from netmeasure.ingest.formats.mlab import (
    MLAB_FIELDS as MLAB_FIELDS,
)
from netmeasure.ingest.formats.mlab import (
    _flatten as _flatten,
)
from netmeasure.ingest.formats.mlab import (
    _mlab_direction as _mlab_direction,
)
from netmeasure.ingest.formats.mlab import (
    _mlab_row as _mlab_row,
)
from netmeasure.ingest.formats.mlab import (
    is_mlab as is_mlab,
)
from netmeasure.ingest.formats.mlab import (
    mlab_leaf as mlab_leaf,
)
from netmeasure.ingest.formats.mlab import (
    mlab_ndt_csv as mlab_ndt_csv,
)
from netmeasure.ingest.formats.mlab import (
    mlab_ndt_json as mlab_ndt_json,
)
from netmeasure.ingest.formats.murakami import (
    MURAKAMI_SPEED_TESTS as MURAKAMI_SPEED_TESTS,
)
from netmeasure.ingest.formats.murakami import (
    murakami as murakami,
)
from netmeasure.ingest.formats.native import (
    _FLOAT_COLUMNS as _FLOAT_COLUMNS,
)
from netmeasure.ingest.formats.native import (
    _TEXT_COLUMNS as _TEXT_COLUMNS,
)
from netmeasure.ingest.formats.native import (
    _native_row as _native_row,
)
from netmeasure.ingest.formats.native import (
    native_csv as native_csv,
)
from netmeasure.ingest.formats.native import (
    native_jsonl as native_jsonl,
)
from netmeasure.ingest.formats.native import (
    native_parquet as native_parquet,
)
from netmeasure.ingest.formats.ndt7 import (
    _RATE_UNITS as _RATE_UNITS,
)
from netmeasure.ingest.formats.ndt7 import (
    _rate as _rate,
)
from netmeasure.ingest.formats.ndt7 import (
    ndt7 as ndt7,
)
from netmeasure.ingest.formats.ookla import (
    OOKLA_TYPES as OOKLA_TYPES,
)
from netmeasure.ingest.formats.ookla import (
    _ookla_error as _ookla_error,
)
from netmeasure.ingest.formats.ookla import (
    _ookla_result as _ookla_result,
)
from netmeasure.ingest.formats.ookla import (
    ookla as ookla,
)
from netmeasure.ingest.formats.speedtest_cli import (
    SPEEDTEST_CSV_HEADER as SPEEDTEST_CSV_HEADER,
)
from netmeasure.ingest.formats.speedtest_cli import (
    SPEEDTEST_CSV_WIDTHS as SPEEDTEST_CSV_WIDTHS,
)
from netmeasure.ingest.formats.speedtest_cli import (
    _delimiter as _delimiter,
)
from netmeasure.ingest.formats.speedtest_cli import (
    _speedtest_rows as _speedtest_rows,
)
from netmeasure.ingest.formats.speedtest_cli import (
    speedtest_csv as speedtest_csv,
)
from netmeasure.ingest.formats.speedtest_cli import (
    speedtest_json as speedtest_json,
)
