"""A plugin's ``plugin.json``: who it is (id, name, kind, organization, version, description) and
the data it contributes without code (activity types, service menu entries, a station kind)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qunti.definitions import DefinitionError, read_json
from qunti.plugins import shapes

FILE_NAME = "plugin.json"
KINDS = {"brand": "品牌", "station": "站点"}


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    kind: str
    organization: str
    version: str
    description: str
    activity_types: tuple[dict[str, Any], ...] = ()
    menu_entries: tuple[dict[str, Any], ...] = ()
    station_kind: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind_name(self) -> str:
        return KINDS[self.kind]


def validate_manifest(document: Any, source: str, expected_id: str | None = None) -> Manifest:
    """Check a manifest document; ``expected_id`` is the folder or entry-point name it must match."""
    shapes.check(document, shapes.validator("manifest.schema.json"), source, "插件清单")
    if expected_id is not None and document["id"] != expected_id:
        raise DefinitionError(source, "/id", f"插件编号 '{document['id']}' 须与所在文件夹（或入口点）名 "
                                             f"'{expected_id}' 相同")
    if "stationKind" in document and document["kind"] != "station":
        raise DefinitionError(source, "/stationKind", "只有站点插件（kind 为 station）才能声明站点类型")
    return Manifest(id=document["id"], name=document["name"], kind=document["kind"],
                    organization=document["organization"], version=document["version"],
                    description=document["description"],
                    activity_types=tuple(dict(t) for t in document.get("activityTypes", ())),
                    menu_entries=tuple(dict(e) for e in document.get("menuEntries", ())),
                    station_kind=dict(document["stationKind"]) if "stationKind" in document else None,
                    raw=document)


def load_manifest(folder: Path, source: str, expected_id: str | None = None) -> Manifest:
    path = folder / FILE_NAME
    if not path.is_file():
        raise DefinitionError(source, "", f"插件缺少清单文件 {FILE_NAME}")
    return validate_manifest(read_json(path, source), source, expected_id)
