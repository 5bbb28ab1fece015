"""Programme profiles as data: each programme's rules (indicator, comparator, target) and levels.

A profile is a YAML file in ``spatial/standards/profiles/`` (or any path): the programme's pilot
kinds (城市新建社区 …), its rules, each citing the source document and clause, and optional levels.
``load_profile`` validates it and checks that every rule names a registry indicator.
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ditan.spatial.errors import ConfigError, format_validation_errors
from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from ditan.spatial.standards.registry import Indicator, registry

__all__ = [
    "known_indicator",
    "indicator_entry",
    "Rule",
    "Level",
    "Profile",
    "list_profiles",
    "parse_profile",
    "load_profile",
]

DYNAMIC = re.compile(r"^lc_[a-z0-9_]+_pct$")  # life-circle columns made from the facility catalogue
Comparator = Literal[">=", "<=", ">", "<", "range", "present"]
BINDING_ZH = {"binding": "约束性", "guiding": "引导性"}


def known_indicator(indicator_id: str) -> bool:
    """A registry id (static or non-spatial) or a dynamic life-circle id."""
    return indicator_id in registry() or bool(DYNAMIC.match(indicator_id))


def indicator_entry(indicator_id: str, zh: str = "") -> Indicator:
    """The registry entry of a rule's indicator; a placeholder for pending and dynamic ids not in the registry."""
    reg = registry()
    if indicator_id in reg:
        return reg[indicator_id]
    unit = "%" if indicator_id.endswith("_pct") else ""
    return Indicator(
        id=indicator_id, zh=zh or indicator_id, en=indicator_id.replace("_", " "), unit=unit
    )


class Rule(BaseModel):
    """One check of one indicator against a programme's target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    indicator: str  # registry id
    zh: str = Field(min_length=1)  # the rule's name as printed in the source
    comparator: Comparator
    target: float | None = None
    target_max: float | None = None  # range: target ≤ value ≤ target_max
    binding: Literal["binding", "guiding"]  # 约束性 / 引导性
    applies_to: list[str] = []  # pilot kinds; empty = every kind
    # a single parcel (ditan check-parcels): the land-use classes (ditan.spatial.landuse.classes) the rule's target is set for;
    # omitted = every class, [] = none (an area-wide figure, not a control on one parcel). Units (communities, which mix
    # classes) are always checked. A parcel of another class gets the rule as "not applicable" (不适用), not counted.
    applies_to_classes: list[str] | None = None
    source: str = Field(min_length=1)  # document
    clause: str = Field(min_length=1)  # table / item / clause
    points: float | None = None  # scoring items: points when the rule passes
    item: str | None = None  # scoring item: its score is the max points among its passing rules
    unconfirmed: bool = False  # target or mapping not checked against the printed text
    note: str = ""

    @field_validator("indicator")
    @classmethod
    def _known(cls, v: str) -> str:
        if not known_indicator(v):
            raise ValueError(
                f"unknown indicator '{v}': not in the registry (indicators.yaml, indicators_nonspatial.yaml), "
                "not pending and not a life-circle id lc_<category>_pct"
            )
        return v

    @field_validator("applies_to_classes")
    @classmethod
    def _classes(cls, v: list[str] | None) -> list[str] | None:
        bad = [c for c in v or [] if c not in LANDUSE_CLASSES]
        if bad:
            raise ValueError(
                f"applies_to_classes: unknown land-use class(es) {bad}; the classes are {', '.join(LANDUSE_CLASSES)}"
            )
        return v

    def applies_to_class(self, lu_class: str) -> bool:
        """Whether the rule's target is set for a single parcel of ``lu_class`` (see ``applies_to_classes``)."""
        return self.applies_to_classes is None or lu_class in self.applies_to_classes

    @model_validator(mode="after")
    def _targets(self) -> Rule:
        c, t, t2 = self.comparator, self.target, self.target_max
        if c == "range":
            if t is None or t2 is None:
                raise ValueError(
                    f"rule '{self.id}': comparator 'range' needs both target and target_max"
                )
            if t > t2:
                raise ValueError(f"rule '{self.id}': range target {t:g} is above target_max {t2:g}")
        elif c == "present":
            if t is not None or t2 is not None:
                raise ValueError(
                    f"rule '{self.id}': comparator 'present' takes no target or target_max"
                )
        else:
            if t is None:
                raise ValueError(f"rule '{self.id}': comparator '{c}' needs a target")
            if t2 is not None:
                raise ValueError(f"rule '{self.id}': target_max is only for comparator 'range'")
        if self.item is not None and self.points is None:
            raise ValueError(f"rule '{self.id}': item '{self.item}' given without points")
        return self

    @property
    def item_id(self) -> str | None:
        """The scoring item (its own id when the rule scores alone); None for rules that do not score."""
        return None if self.points is None else (self.item or self.id)

    def target_text(self) -> str:
        """Human text of the target: '≥ 20', '1.2–3', 'present'."""
        sym = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
        if self.comparator == "present":
            return "present"
        if self.comparator == "range":
            return f"{self.target:g}–{self.target_max:g}"
        return f"{sym[self.comparator]} {self.target:g}"


class Level(BaseModel):
    """A level of a programme (e.g. 低碳 / 近零碳): reached when its points and required rules hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    zh: str = ""
    en: str = ""
    min_points: float | None = None
    requires: list[str] = []  # rule ids that must all pass (where they apply to the unit's kind)


class Profile(BaseModel):
    """One programme's rules and levels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    zh: str = Field(min_length=1)
    en: str = ""
    source: str = Field(min_length=1)
    kinds: dict[str, str] = {}  # kind id → Chinese name (e.g. new: 城市新建社区)
    # the programme assesses places where people live: in screening, a unit without residents (indicator has_residents
    # False) is listed apart ("not assessed: no residents"), never ranked among the candidates
    needs_residents: bool = False
    rules: list[Rule]
    levels: list[Level] = []  # lowest first

    @field_validator("rules")
    @classmethod
    def _rules(cls, rules: list[Rule], info: ValidationInfo) -> list[Rule]:
        problems = [
            f"duplicate rule id '{k}'" for k, n in Counter(r.id for r in rules).items() if n > 1
        ]
        kinds = info.data.get("kinds")
        if kinds is not None:
            for r in rules:
                bad = [k for k in r.applies_to if k not in kinds]
                if bad:
                    problems.append(
                        f"rule '{r.id}' applies_to {bad}, not among the profile's kinds {list(kinds)}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return rules

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[Level], info: ValidationInfo) -> list[Level]:
        problems = [
            f"duplicate level id '{k}'" for k, n in Counter(lv.id for lv in levels).items() if n > 1
        ]
        rules = info.data.get("rules")
        if rules is not None:
            ids = {r.id for r in rules}
            for lv in levels:
                bad = [r for r in lv.requires if r not in ids]
                if bad:
                    problems.append(f"level '{lv.id}' requires unknown rule(s) {bad}")
        if problems:
            raise ValueError("; ".join(problems))
        return levels

    def rule(self, rule_id: str) -> Rule:
        """Look a rule up by id."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def kind_id(self, value: object) -> str | None:
        """A kind given as its id or its Chinese name → the id; None if it is not one of the profile's kinds."""
        if value in self.kinds:
            return str(value)
        by_zh = {zh: k for k, zh in self.kinds.items()}
        return by_zh.get(value) if isinstance(value, str) else None


def _profiles_dir():
    return resources.files("ditan.spatial.standards").joinpath("profiles")


def list_profiles() -> list[str]:
    """Ids (file stems) of the packaged profiles."""
    return sorted(
        p.name.removesuffix(".yaml") for p in _profiles_dir().iterdir() if p.name.endswith(".yaml")
    )


def parse_profile(data: object, *, source: str = "profile") -> Profile:
    """Validate a profile given as a mapping; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"profile {source} must hold a mapping (id, zh, source, kinds, rules, levels), not {type(data).__name__}"
        )
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_errors(exc, f"profile {source}", root=Profile)
        ) from None


def load_profile(name_or_path: str | Path) -> Profile:
    """A packaged profile by id (file stem, e.g. 'lowcarbon_pilot_2015') or a YAML file path; validated."""
    text_path = str(name_or_path)
    packaged = _profiles_dir().joinpath(f"{text_path}.yaml")
    if (
        not isinstance(name_or_path, Path)
        and re.fullmatch(r"[A-Za-z0-9_\-]+", text_path)
        and packaged.is_file()
    ):
        text, source = packaged.read_text(encoding="utf-8"), f"'{text_path}' (packaged)"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(
                f"profile '{name_or_path}' not found: give a packaged profile id ({', '.join(list_profiles())}) "
                "or the path of a profile YAML file"
            )
        try:
            text, source = path.read_text(encoding="utf-8-sig"), str(path)
        except UnicodeDecodeError:
            raise ConfigError(f"profile {path} is not UTF-8 text; save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {source} is not valid YAML: {exc}") from None
    return parse_profile(data, source=source)
