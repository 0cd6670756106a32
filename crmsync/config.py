"""Integration configuration: what syncs, in which direction, and how conflicts settle.

Covers everything section 5.2 of the spec shows, and accepts its names as written
(`estrategia_padrao`, `campos_especiais`, `crm_wins`, `ecletech_wins`, `manual_se_diferente`,
`usar_nao_vazio`, `read_only`, `sync_strategy`), so the spec's example loads unchanged.
Unknown keys are refused with the key named: a typo must not silently mean "default".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crmsync.merge import FieldPolicy
from crmsync.model.canonical import ENTITY_ALIASES, ENTITY_TYPES

STRATEGY_ALIASES = {
    "last_write_wins": "last_write_wins",
    "lww": "last_write_wins",
    "external_wins": "external_wins",
    "crm_wins": "external_wins",
    "local_wins": "local_wins",
    "ecletech_wins": "local_wins",
    "merge": "merge",
    "manual": "manual",
    "manual_if_different": "manual_if_different",
    "manual_se_diferente": "manual_if_different",
}
RULE_ALIASES = {
    "non_empty": "non_empty",
    "usar_nao_vazio": "non_empty",
    "longest": "longest",
    "mais_completo": "longest",
    "union": "union",
    "uniao": "union",
}

Direction = Literal["both", "push", "pull"]


def _strategy(value: str) -> str:
    key = str(value).strip().lower()
    if key not in STRATEGY_ALIASES:
        choices = ", ".join(sorted(STRATEGY_ALIASES))
        raise ValueError(f"estratégia desconhecida '{value}' (use uma de: {choices})")
    return STRATEGY_ALIASES[key]


def _rule(value: str) -> str:
    key = value.strip().lower()
    if key not in RULE_ALIASES:
        raise ValueError(f"regra desconhecida '{value}' (use uma de: {', '.join(sorted(RULE_ALIASES))})")
    return RULE_ALIASES[key]


# A strategy or merge rule as written in any of the spec's spellings, stored by its one name.
Strategy = Annotated[str, AfterValidator(_strategy)]
Rule = Annotated[str, AfterValidator(_rule)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldRule(_Strict):
    estrategia: Strategy = Field(default="last_write_wins", alias="strategy")
    regra: Rule | None = Field(default=None, alias="rule")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    justificativa: str | None = None

    @model_validator(mode="after")
    def _rule_fits(self) -> FieldRule:
        if self.estrategia == "merge" and self.regra is None:
            self.regra = "non_empty"
        if self.estrategia == "manual_if_different" and self.threshold is None:
            self.threshold = 0.5
        return self

    def policy(self) -> FieldPolicy:
        return FieldPolicy(strategy=self.estrategia, rule=self.regra, threshold=self.threshold)


class EntityConfig(_Strict):
    direcao: Direction = Field(default="both", alias="direction")
    read_only: bool | None = None
    estrategia: Strategy | None = Field(default=None, alias="sync_strategy")
    campos: dict[str, FieldRule] = Field(default_factory=dict, alias="fields")
    # What a delete on the local side does on the provider, and vice versa.
    delete_remoto: Literal["delete", "deactivate", "ignore", "conflict"] = "deactivate"
    delete_local: Literal["soft_delete", "ignore", "conflict"] = "soft_delete"
    justificativa: str | None = None

    @model_validator(mode="after")
    def _read_only_means_pull(self) -> EntityConfig:
        if self.read_only:
            self.direcao = "pull"
        return self


def _unwrap_sync_config(data: dict[str, Any]) -> dict[str, Any]:
    """The spec's `config.php` holds `sync_config` (strategies, field rules) and, beside it,
    `entidades`: both are one config. Keys found in both places are merged when they are
    mappings (the outer entries win per key) and must agree otherwise."""
    merged = dict(data["sync_config"])
    for key, value in data.items():
        if key == "sync_config":
            continue
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        elif merged[key] != value:
            raise ValueError(f"'{key}' aparece dentro e fora de sync_config com valores diferentes")
    return merged


class IntegrationConfig(_Strict):
    estrategia_padrao: Strategy = Field(default="last_write_wins", alias="default_strategy")
    campos_especiais: dict[str, FieldRule] = Field(default_factory=dict, alias="field_rules")
    entidades: dict[str, EntityConfig] = Field(default_factory=dict, alias="entities")
    timezone: str = "America/Sao_Paulo"
    intervalo_pull_minutos: int = Field(default=10, ge=1, le=24 * 60, alias="pull_interval_minutes")
    tolerancia_relogio_segundos: int = Field(default=120, ge=0, le=3600, alias="skew_tolerance_seconds")
    limite_exclusao_em_massa: float = Field(default=0.2, ge=0.0, le=1.0, alias="mass_delete_threshold")
    ordenar_por_modificacao: bool = Field(default=False, alias="sort_by_modification")
    similaridade_duplicata: float = Field(default=0.85, ge=0.5, le=1.0, alias="fuzzy_threshold")
    # Values of unique keys this store uses for "none" (its own CNPJ on walk-in sales, a
    # shared e-mail): never linked on. Common placeholders ("naotem@...") are built in.
    chaves_ignoradas: list[str] = Field(default_factory=list, max_length=200, alias="ignored_keys")
    # What only one provider understands (SuiteCRM's custom CPF/CNPJ field names, its pace):
    # validated by that provider (crmsync.providers.registry.validate_config).
    opcoes_provedor: dict[str, Any] = Field(default_factory=dict, alias="provider_options")

    @model_validator(mode="before")
    @classmethod
    def _spec_shapes(cls, data: Any) -> Any:
        """Accept the spec's own layouts: a `sync_config` wrapper, and entity entries
        (`produtos: {estrategia: crm_wins, read_only: true}`) written among the field rules."""
        if not isinstance(data, dict):
            return data
        data = _unwrap_sync_config(data) if isinstance(data.get("sync_config"), dict) else dict(data)
        for container in ("campos_especiais", "field_rules"):
            rules = data.get(container)
            if not isinstance(rules, dict):
                continue
            rules = dict(rules)
            entities = dict(data.get("entidades") or data.get("entities") or {})
            for key in list(rules):
                if key in ENTITY_ALIASES and isinstance(rules[key], dict):
                    spec = dict(rules.pop(key))
                    if "estrategia" in spec:
                        spec["sync_strategy"] = spec.pop("estrategia")
                    entities.setdefault(key, spec)
            data[container] = rules
            if entities:
                data.pop("entities", None)
                data["entidades"] = entities
        ents = data.get("entidades") or data.get("entities")
        if isinstance(ents, dict):
            normalised: dict[str, Any] = {}
            for key, value in ents.items():
                if key not in ENTITY_ALIASES:
                    raise ValueError(f"entidade desconhecida '{key}' (use cliente, produto ou venda)")
                normalised[ENTITY_ALIASES[key]] = value
            data.pop("entities", None)
            data["entidades"] = normalised
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"fuso horário desconhecido '{v}'") from exc
        return v

    def entity(self, entity_type: str) -> EntityConfig:
        return self.entidades.get(entity_type) or EntityConfig()

    def direction(self, entity_type: str) -> str:
        return self.entity(entity_type).direcao

    def entities(self) -> list[str]:
        """Entities the integration syncs, in dependency order (customers and products first);
        attached to an ERP, only those its schema map has a table for."""
        # imported when used: the active map comes from the settings (CRMSYNC_SCHEMA_MAP)
        from crmsync.erp.schema_map import active_schema_map

        mapped = active_schema_map().entidades
        if self.entidades:
            return [e for e in ENTITY_TYPES if e in self.entidades and e in mapped]
        return [e for e in ENTITY_TYPES if e in mapped]

    def syncs(self, entity_type: str, direction: str) -> bool:
        """Whether `entity_type` is synced in `direction` ("push" or "pull")."""
        return entity_type in self.entities() and str(self.direction(entity_type)) in ("both", direction)

    def policy_for(self, entity_type: str, field: str) -> FieldPolicy:
        """Field rule of the entity, then the global field rule, then the entity's strategy,
        then the default strategy."""
        ent = self.entity(entity_type)
        if field in ent.campos:
            return ent.campos[field].policy()
        if field in self.campos_especiais:
            return self.campos_especiais[field].policy()
        return FieldPolicy(strategy=ent.estrategia or self.estrategia_padrao)


class ConfigError(ValueError):
    """An invalid config, with the offending key path named (shown to the user as is)."""


def parse_config(data: Any) -> IntegrationConfig:
    try:
        return IntegrationConfig.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"configuração inválida em '{loc}': {msg}") from None


class HasConfig(Protocol):
    """An integration row (`crm_integracoes`): its raw `config` column."""

    config: Any


def integration_config(integ: HasConfig) -> IntegrationConfig:
    """The integration's raw config parsed into its typed form: the one place the column is
    read; callers parse once per job, request or scheduler decision and pass the result on."""
    return parse_config(integ.config or {})


def load_config_file(path: str | Path) -> IntegrationConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"não foi possível ler '{p}': {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"'{p}' não é YAML/JSON válido: {exc}") from None
    return parse_config(data)
