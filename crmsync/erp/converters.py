"""Converters between an ERP column's spelling and the canonical value of a field.

Legacy ERPs store the same thing many ways: a CPF as "123.456.789-09" in a CHAR(14), as
"12345678909", or as the BIGINT 12345678909 that lost its leading zeros; a flag as S/N,
A/I, 0/1 or T/F; "no date" as '0000-00-00'; money as "1.234,56". A converter reads any
of the column's spellings into the canonical one (what `crmsync.model.canonical` holds)
and writes the canonical value back in the column's own spelling, so a record that went
out and came back reads the same (round-trip tested with Hypothesis).

Both directions refuse instead of guessing: `to_canonical` raises `ConversionError` for a
value that cannot be right (the row becomes a failed item), `to_column` raises it for a
value the column cannot hold (too long, a character outside latin1, more decimal places
than the column keeps), never cutting or replacing silently.

Options common to every converter (`opcoes` in the map):
- `vazio`: the column's "none" value (e.g. "" or 0 in a NOT NULL column); read as None and
  written for None.
- text-shaped converters also take `tamanho` (maximum characters), `largura` (fixed-width
  CHAR: padded with spaces on write, stripped on read) and `charset` (`latin1`, `utf8mb3`,
  `iso8859_1`: characters the column's charset cannot hold are refused).

The converters live in three modules: :mod:`crmsync.erp.convert_base` (the contract and
the text shape), :mod:`crmsync.erp.documents` (CPF/CNPJ) and this one (the rest, and the
registry `CONVERTERS` every map is resolved against).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import phonenumbers

from crmsync.erp.convert_base import (
    ConversionError,
    Converter,
    ConverterOptionError,
    _int_option,
    _number_digits,
    _same,
    _Spelled,
    _TextShaped,
)
from crmsync.erp.documents import _DOC_FORMATS, DOCUMENT_SPELLINGS, Documento
from crmsync.mapping import normalize as n

__all__ = [
    "CONVERTERS",
    "ConversionError",
    "Converter",
    "ConverterOptionError",
    "Documento",
    "get_converter",
]


class Texto(_TextShaped):
    """Free text: read as is (trailing CHAR padding off), written as is (never cut)."""

    name = "texto"

    def _read(self, raw: Any) -> Any:
        text = self._text_in(raw)
        return text if text.strip() else None

    def _write(self, value: Any) -> Any:
        return self._text_out(str(value))


class Email(_TextShaped):
    name = "email"

    def _read(self, raw: Any) -> Any:
        try:
            return n.normalize_email(self._text_in(raw))
        except n.NormalizationError as exc:
            raise ConversionError("e-mail inválido") from exc

    def _write(self, value: Any) -> Any:
        return self._text_out(str(value))


class Cep(_Spelled):
    """CEP formatted ("01310-100"), as digits, or as a number that lost its leading zero."""

    name = "cep"
    formats, default_format = _DOC_FORMATS, "digitos"

    def _read(self, raw: Any) -> Any:
        number = _number_digits(raw)
        d = number if number is not None else n.digits(str(raw))
        if not d.strip("0"):
            return None
        if len(d) < 8 and number is not None:
            d = d.zfill(8)
        if len(d) != 8:
            raise ConversionError("CEP deve ter 8 dígitos")
        return d

    def _write(self, value: Any) -> Any:
        d = n.digits(str(value))
        if len(d) != 8:
            raise ConversionError("CEP deve ter 8 dígitos")
        if self.fmt == "numero":
            return int(d)
        return self._text_out(f"{d[:5]}-{d[5:]}" if self.fmt == "formatado" else d)


_PHONE_FORMATS = ("nacional", "digitos", "e164")


class Telefone(_Spelled):
    """Phones in any spelling read to E.164; written `nacional` ("(11) 3522-8899", default),
    `digitos` ("1135228899") or `e164` ("+551135228899")."""

    name = "telefone"
    formats, default_format = _PHONE_FORMATS, "nacional"

    def _read(self, raw: Any) -> Any:
        number = _number_digits(raw)
        if number is None and not isinstance(raw, str):
            raise ConversionError(f"telefone inválido: {raw!r}")
        text = number if number is not None else self._text_in(raw)
        try:
            return n.normalize_phone(text)
        except n.NormalizationError as exc:
            raise ConversionError("telefone inválido") from exc

    def _write(self, value: Any) -> Any:
        e164 = n.normalize_phone(str(value))
        assert e164 is not None
        text: str | None = e164
        if self.fmt == "digitos":
            number = phonenumbers.parse(e164, "BR")
            text = str(number.national_number) if number.country_code == 55 else e164
        elif self.fmt == "nacional":
            text = n.format_phone_br(e164)
        # A number the column's spelling cannot carry back (leading zeros lost by the
        # national form) is refused rather than written as a different phone.
        if text is None or n.normalize_phone(text) != e164:
            raise ConversionError(f"telefone {e164} não cabe no formato '{self.fmt}' da coluna")
        return self._text_out(text)


class Flag(Converter):
    """A boolean kept as two spellings: S/N (default), A/I, 0/1, T/F, ... `verdadeiro` and
    `falso` are a value or a list of values (the first is the one written). A value in
    neither list does not convert (the row is a failed item), unless `nulo` says what
    NULL means."""

    name = "flag"
    options = frozenset({"verdadeiro", "falso", "nulo"})

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        self.trues = self._values("verdadeiro", "S")
        self.falses = self._values("falso", "N")
        for t in self.trues:
            if any(_same(t, f) for f in self.falses):
                raise ConverterOptionError("falso", f"o valor {t!r} está em verdadeiro e em falso")
        nulo = self.opcoes.get("nulo")
        if nulo is not None and not isinstance(nulo, bool):
            raise ConverterOptionError("nulo", "use true ou false")
        self.nulo: bool | None = nulo

    def _values(self, key: str, default: Any) -> list[Any]:
        value = self.opcoes.get(key, default)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values or any(v is None or isinstance(v, (dict, list)) for v in values):
            raise ConverterOptionError(key, "informe um valor ou uma lista de valores")
        return values

    def to_canonical(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.nulo is not None:
                return self.nulo
            raise ConversionError("flag vazia (defina opcoes.nulo no mapa)")
        return self._read(raw)

    def _read(self, raw: Any) -> Any:
        if any(_same(raw, t) for t in self.trues):
            return True
        if any(_same(raw, f) for f in self.falses):
            return False
        raise ConversionError(f"valor de flag não mapeado: {raw!r}")

    def _write(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ConversionError(f"flag espera verdadeiro/falso, recebeu {value!r}")
        return self.trues[0] if value else self.falses[0]

    def to_column(self, value: Any) -> Any:
        if value is None:
            if self.nulo is None:
                raise ConversionError("flag sem valor")
            return None
        return self._write(value)


class Booleano(Converter):
    """A real boolean column (or TINYINT(1) on MariaDB, which returns 0/1)."""

    name = "booleano"

    def _read(self, raw: Any) -> Any:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ConversionError(f"valor booleano inválido: {raw!r}")

    def _write(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ConversionError(f"esperado verdadeiro/falso, recebeu {value!r}")
        return value


class Valores(Converter):
    """A code kept in the column for a canonical value (`tipo_pessoa` as F/J):
    `opcoes.valores: {F: PF, J: PJ}` (column value -> canonical value)."""

    name = "valores"
    options = frozenset({"valores"})

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        valores = self.opcoes.get("valores")
        if not isinstance(valores, Mapping) or not valores:
            raise ConverterOptionError("valores", "informe o mapa {valor_na_coluna: valor_canonico}")
        self.valores: dict[Any, Any] = dict(valores)

    def _read(self, raw: Any) -> Any:
        for column_value, canonical in self.valores.items():
            if _same(raw, column_value):
                return canonical
        raise ConversionError(f"valor não mapeado: {raw!r}")

    def _write(self, value: Any) -> Any:
        for column_value, canonical in self.valores.items():
            if _same(value, canonical):
                return column_value
        raise ConversionError(f"valor sem correspondente na coluna: {value!r}")


_ZERO_DATE = re.compile(r"0{4}-0{2}-0{2}(?:[ T]0{2}:0{2}:0{2}(?:\.0+)?)?")


class Data(_TextShaped):
    """A date. Date columns return `date`; a text column may hold another spelling
    (`formato: "%d/%m/%Y"`), which is then also the one written."""

    name = "data"
    options = _TextShaped.options | {"formato"}
    zero: ClassVar[bool] = False

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        fmt = self.opcoes.get("formato")
        if fmt is not None:
            try:
                datetime(2001, 2, 3, 4, 5, 6).strftime(str(fmt))
            except ValueError as exc:
                raise ConverterOptionError("formato", f"formato de data inválido: {exc}") from exc
        self.fmt: str | None = None if fmt is None else str(fmt)
        if self.zero and self.vazio is None:
            self.vazio = "0000-00-00"

    def to_canonical(self, raw: Any) -> Any:
        if self.zero and isinstance(raw, str) and _ZERO_DATE.fullmatch(raw.strip()):
            return None
        return super().to_canonical(raw)

    def _parse(self, raw: Any) -> datetime:
        if isinstance(raw, datetime):
            return raw
        if isinstance(raw, date):
            return datetime(raw.year, raw.month, raw.day)
        text = str(raw).strip()
        try:
            if self.fmt is not None:
                return datetime.strptime(text, self.fmt)
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise ConversionError(f"data inválida: {text!r}") from exc

    def _read(self, raw: Any) -> Any:
        return self._parse(raw).date().isoformat()

    def _write(self, value: Any) -> Any:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        except ValueError as exc:
            raise ConversionError(f"data inválida: {value!r}") from exc
        return self._spelled(day.date() if isinstance(day, datetime) else day)

    def _spelled(self, moment: date) -> Any:
        """The value for the column: the date itself, or in a text column its `formato`."""
        if self.fmt is None:
            return moment
        if moment.year < 1000:  # strftime's %Y would not write four digits
            raise ConversionError(f"data fora do intervalo: {moment.isoformat()}")
        return self._text_out(moment.strftime(self.fmt))


class DataZero(Data):
    """A date where '0000-00-00' (MySQL's zero date) means none; None is written as it."""

    name = "data_zero"
    zero = True


class DataHora(Data):
    """A date-time, canonical as ISO 'YYYY-MM-DDTHH:MM:SS[.ffffff]' in the ERP's own clock."""

    name = "datahora"

    def _read(self, raw: Any) -> Any:
        return self._parse(raw).isoformat()

    def _write(self, value: Any) -> Any:
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ConversionError(f"data e hora inválidas: {value!r}") from exc
        return self._spelled(moment)


class DataHoraZero(DataHora):
    name = "datahora_zero"
    zero = True

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        if "vazio" not in self.opcoes:
            self.vazio = "0000-00-00 00:00:00"


def _places(opcoes: Mapping[str, Any]) -> int | None:
    return _int_option(opcoes, "casas", 0)


def _check_places(number: Decimal, casas: int | None, round_ok: bool) -> Decimal:
    if casas is None:
        return number
    quantum = Decimal(1).scaleb(-casas)
    rounded = number.quantize(quantum)
    if rounded != number and not round_ok:
        raise ConversionError(f"valor {number} tem mais de {casas} casas decimais (a coluna não guarda)")
    return rounded


def _decimal_of(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConversionError(f"número inválido: {value!r}") from exc
    if not number.is_finite():
        raise ConversionError(f"número inválido: {value!r}")
    return number


class DinheiroVirgula(_TextShaped):
    """Money as a decimal-comma string: "1234,56" or, with `milhar: true`, "1.234,56".
    `casas` (default 2) is what is written; more places than that are refused unless
    `arredondar: true`."""

    name = "dinheiro_virgula"
    options = _TextShaped.options | {"casas", "milhar", "arredondar"}

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        casas = _places(self.opcoes)
        self.casas = 2 if casas is None else casas
        self.milhar = bool(self.opcoes.get("milhar", False))
        self.arredondar = bool(self.opcoes.get("arredondar", False))

    def _read(self, raw: Any) -> Any:
        if isinstance(raw, (int, Decimal, float)) and not isinstance(raw, bool):
            return n.normalize_decimal(raw, "valor")
        text = self._text_in(raw).strip().replace(" ", "")
        if "," in text:
            text = text.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"-?\d{1,3}(\.\d{3})+", text) and self.milhar:
            text = text.replace(".", "")
        if not re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
            raise ConversionError(f"valor monetário inválido: {raw!r}")
        return n.normalize_decimal(text, "valor")

    def _write(self, value: Any) -> Any:
        number = _check_places(_decimal_of(value), self.casas, self.arredondar)
        text = f"{number:,.{self.casas}f}" if self.milhar else f"{number:.{self.casas}f}"
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        return self._text_out(text)


class DecimalConv(Converter):
    """A numeric column (DECIMAL/NUMERIC/FLOAT). `casas`: the column's scale; more places
    are refused unless `arredondar: true`."""

    name = "decimal"
    options = frozenset({"casas", "arredondar"})

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        self.casas = _places(self.opcoes)
        self.arredondar = bool(self.opcoes.get("arredondar", False))

    def _read(self, raw: Any) -> Any:
        if isinstance(raw, bool):
            raise ConversionError(f"número inválido: {raw!r}")
        if isinstance(raw, float):
            raw = repr(raw)
        try:
            return n.normalize_decimal(raw, "valor")
        except n.NormalizationError as exc:
            raise ConversionError(f"número inválido: {raw!r}") from exc

    def _write(self, value: Any) -> Any:
        return _check_places(_decimal_of(value), self.casas, self.arredondar)


class Inteiro(Converter):
    """An integer column read as its decimal string (ids and references are strings in the
    canonical records)."""

    name = "inteiro"

    def _read(self, raw: Any) -> Any:
        if isinstance(raw, bool):
            raise ConversionError(f"inteiro inválido: {raw!r}")
        try:
            number = int(raw.strip()) if isinstance(raw, str) else int(raw)
        except (ValueError, TypeError) as exc:
            raise ConversionError(f"inteiro inválido: {raw!r}") from exc
        if not isinstance(raw, (int, str)) and Decimal(str(raw)) != number:
            raise ConversionError(f"inteiro inválido: {raw!r}")
        return str(number)

    def _write(self, value: Any) -> Any:
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise ConversionError(f"inteiro inválido: {value!r}") from exc


_REGISTERED: tuple[type[Converter], ...] = (
    Texto,
    Email,
    *DOCUMENT_SPELLINGS.values(),
    Documento,
    Cep,
    Telefone,
    Flag,
    Booleano,
    Valores,
    Data,
    DataZero,
    DataHora,
    DataHoraZero,
    DinheiroVirgula,
    DecimalConv,
    Inteiro,
)
CONVERTERS: dict[str, type[Converter]] = {cls.name: cls for cls in _REGISTERED}


def get_converter(name: str, opcoes: Mapping[str, Any] | None = None) -> Converter:
    """The converter `name` configured with `opcoes`; ValueError for an unknown name,
    ConverterOptionError (with the option named) for bad options."""
    cls = CONVERTERS.get(name)
    if cls is None:
        raise ValueError(f"conversor desconhecido '{name}' (use um de: {', '.join(sorted(CONVERTERS))})")
    return cls(opcoes)
