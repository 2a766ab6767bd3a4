"""The dashboard's basemap: country outlines shipped with the package, or the user's GeoJSON.

The shipped file is Natural Earth's 1:50m admin-0 countries (public domain) as packaged by
the npm ``world-atlas`` package (ISC licence, version in ``WORLD_ATLAS_VERSION``), converted
once at development time from TopoJSON to GeoJSON with coordinates rounded to 0.01° by
``python -m netmeasure.collector.dashboard.basemap countries-50m.json OUT.geojson``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import InputError

WORLD_ATLAS_VERSION: Final = "2.0.2"
SHIPPED: Final = Path(__file__).parent.parent / "static" / "dashboard" / "countries-50m.geojson"
MAX_BYTES: Final = 64 * 1024 * 1024
_GEOMETRIES: Final = {"Polygon", "MultiPolygon", "LineString", "MultiLineString"}


def load_basemap(path: Path | None) -> bytes:
    """The GeoJSON the map draws under the samples: ``path`` (checked) or the shipped one."""
    if path is None:
        return SHIPPED.read_bytes()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--basemap {path}: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_BYTES:
        raise InputError(f"--basemap {path}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--basemap {path}: not JSON: {exc}") from exc
    features = _features(doc, path)
    if not any((f.get("geometry") or {}).get("type") in _GEOMETRIES for f in features):
        raise InputError(f"--basemap {path}: no Polygon or LineString geometries")
    out = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": str((f.get("properties") or {}).get("name", ""))},
                "geometry": f["geometry"],
            }
            for f in features
            if (f.get("geometry") or {}).get("type") in _GEOMETRIES
        ],
    }
    return json.dumps(out, separators=(",", ":")).encode()


def _features(doc: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise InputError(f"--basemap {path}: not a GeoJSON object")
    if doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        return [f for f in doc["features"] if isinstance(f, dict)]
    if doc.get("type") == "Feature":
        return [doc]
    if doc.get("type") in _GEOMETRIES:
        return [{"type": "Feature", "properties": {}, "geometry": doc}]
    raise InputError(
        f"--basemap {path}: key 'type': expected FeatureCollection, Feature or a geometry"
    )


# -- development time: TopoJSON (world-atlas) to GeoJSON ----------------------------------


def topojson_to_geojson(topo: dict[str, Any], obj: str, digits: int = 2) -> dict[str, Any]:
    """Decode a quantized TopoJSON object (delta-encoded arcs) into a GeoJSON collection."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append([round(x * sx + tx, digits), round(y * sy + ty, digits)])
        arcs.append(pts)

    def ring(indices: list[int]) -> list[list[float]]:
        pts: list[list[float]] = []
        for i in indices:
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            pts.extend(a if not pts else a[1:])
        out = [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]
        return out

    features = []
    for g in topo["objects"][obj]["geometries"]:
        if g["type"] == "Polygon":
            coords: Any = [ring(r) for r in g["arcs"]]
        elif g["type"] == "MultiPolygon":
            coords = [[ring(r) for r in poly] for poly in g["arcs"]]
        else:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"name": (g.get("properties") or {}).get("name", "")},
                "geometry": {"type": g["type"], "coordinates": coords},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def convert(src: Path, dst: Path) -> None:
    geo = topojson_to_geojson(json.loads(src.read_text()), "countries")
    dst.write_text(json.dumps(geo, separators=(",", ":")))


if __name__ == "__main__":  # development time only (the module docstring)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
