"""CPF and CNPJ converters: each document in its own column (in one of three spellings),
or both in one column (`documento`), read as the row's person type says when the map has
one. A document stored as 0 or empty reads as no document, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from crmsync.erp.convert_base import ConversionError, ConverterOptionError, _number_digits, _same, _TextShaped
from crmsync.mapping import normalize as n

_DOC_FORMATS = ("formatado", "digitos", "numero")


class _Document(_TextShaped):
    """CPF/CNPJ in one of three spellings. Reading accepts any spelling (a CHAR(14) that
    someone filled with bare digits still reads); writing uses the column's own."""

    length: ClassVar[int] = 11
    label: ClassVar[str] = "CPF"
    fmt: ClassVar[str] = "digitos"

    def _validate(self, d: str) -> str:
        try:
            result = n.normalize_cpf(d) if self.length == 11 else n.normalize_cnpj(d)
        except n.NormalizationError as exc:
            raise ConversionError(f"{self.label} inválido (dígito verificador)") from exc
        assert result is not None
        return result

    def _read(self, raw: Any) -> Any:
        if isinstance(raw, bool):
            raise ConversionError(f"{self.label} inválido")
        numeric = _number_digits(raw)
        d = numeric if numeric is not None else n.digits(str(raw))
        if not d.strip("0"):
            return None
        if len(d) < self.length and (not isinstance(raw, str) or raw.strip().isdigit()):
            d = d.zfill(self.length)  # a number that lost its leading zeros
        return self._validate(d)

    def _write(self, value: Any) -> Any:
        d = self._validate(str(value))
        if self.fmt == "numero":
            return int(d)
        text = (n.format_cpf(d) if self.length == 11 else n.format_cnpj(d)) if self.fmt == "formatado" else d
        assert text is not None
        return self._text_out(text)


class CpfFormatado(_Document):
    name, length, label, fmt = "cpf_formatado", 11, "CPF", "formatado"


class CpfDigitos(_Document):
    name, length, label, fmt = "cpf_digitos", 11, "CPF", "digitos"


class CpfNumero(_Document):
    name, length, label, fmt = "cpf_numero", 11, "CPF", "numero"


class CnpjFormatado(_Document):
    name, length, label, fmt = "cnpj_formatado", 14, "CNPJ", "formatado"


class CnpjDigitos(_Document):
    name, length, label, fmt = "cnpj_digitos", 14, "CNPJ", "digitos"


class CnpjNumero(_Document):
    name, length, label, fmt = "cnpj_numero", 14, "CNPJ", "numero"


class Documento(_TextShaped):
    """One column holding a CPF or a CNPJ (`cpf_cnpj`). Map both fields on it with this
    converter and `tipo: cpf` / `tipo: cnpj`: each reads its own kind and None for the
    other; on write the engine puts whichever is present (see `EntityMap.to_columns`).
    `formato`: formatado | digitos | numero (default digitos)."""

    name = "documento"
    options = _TextShaped.options | {"tipo", "formato"}

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        tipo = self.opcoes.get("tipo")
        if tipo not in ("cpf", "cnpj"):
            raise ConverterOptionError("tipo", "use 'cpf' ou 'cnpj' (o campo que esta coluna alimenta)")
        self.tipo: str = tipo
        fmt = self.opcoes.get("formato", "digitos")
        if fmt not in _DOC_FORMATS:
            raise ConverterOptionError("formato", f"formato desconhecido '{fmt}' (use: {', '.join(_DOC_FORMATS)})")
        self.fmt = fmt
        self._cpf = {"formatado": CpfFormatado, "digitos": CpfDigitos, "numero": CpfNumero}[fmt](
            {k: v for k, v in self.opcoes.items() if k in _TextShaped.options}
        )
        self._cnpj = {"formatado": CnpjFormatado, "digitos": CnpjDigitos, "numero": CnpjNumero}[fmt](
            {k: v for k, v in self.opcoes.items() if k in _TextShaped.options}
        )

    def kind_of(self, raw: Any) -> tuple[str, str]:
        """("cpf"|"cnpj", digits) of a column value, or ConversionError. 11 digits in text
        is a CPF and 14 a CNPJ; a shorter number lost its leading zeros: a CPF if it is a
        valid one padded to 11, otherwise a CNPJ padded to 14."""
        number = _number_digits(raw)
        numeric = number is not None
        d = number if number is not None else n.digits(str(raw))
        if len(d) == 11 and not numeric:
            return "cpf", self._cpf._validate(d)
        if len(d) == 14:
            return "cnpj", self._cnpj._validate(d)
        if len(d) <= 11:
            try:
                return "cpf", self._cpf._validate(d.zfill(11))
            except ConversionError:
                pass
        if len(d) < 14:
            try:
                return "cnpj", self._cnpj._validate(d.zfill(14))
            except ConversionError:
                pass
        raise ConversionError("documento inválido: não é CPF nem CNPJ válido")

    def _read(self, raw: Any) -> Any:
        number = _number_digits(raw)
        if not (number if number is not None else n.digits(str(raw))).strip("0"):
            return None
        kind, d = self.kind_of(raw)
        return d if kind == self.tipo else None

    def to_canonical_as(self, raw: Any, pessoa: Any) -> Any:
        """Read with the row's person type (the map's `tipo_pessoa` field: PF or PJ) deciding
        CPF or CNPJ, instead of the digits: a BIGINT that lost its leading zeros is padded
        to 11 for a PF and to 14 for a PJ, and a PJ's document is never read as a CPF just
        because its digits happen to make one. Without a PF/PJ (none, ES, unconvertible),
        the digits decide (:meth:`kind_of`). 0 or empty reads as no document."""
        kind = {"PF": "cpf", "PJ": "cnpj"}.get(str(pessoa or ""))
        if kind is None:
            return self.to_canonical(raw)
        if self.vazio is not None and _same(raw, self.vazio):
            return None
        if kind != self.tipo:
            return None  # the other field of this column reads (and validates) it
        return (self._cpf if kind == "cpf" else self._cnpj).to_canonical(raw)

    def _write(self, value: Any) -> Any:
        return (self._cpf if self.tipo == "cpf" else self._cnpj)._write(value)
