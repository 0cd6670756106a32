"""CPF and CNPJ converters: each document in its own column (in one of three spellings),
or both in one column (`documento`), read as the row's person type says when the map has
one. A document stored as 0 or empty reads as no document, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from crmsync.erp.convert_base import (
    ConversionError,
    ConverterOptionError,
    _number_digits,
    _same,
    _Spelled,
    _TextShaped,
)
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


def _spelling(kind: str, length: int, fmt: str) -> type[_Document]:
    """The converter `<kind>_<fmt>` (`cpf_formatado`, `cnpj_numero`, ...): a document is
    one rule, so its six spellings are one class each only to carry their name."""
    attrs = {"name": f"{kind}_{fmt}", "length": length, "label": kind.upper(), "fmt": fmt}
    return type(f"{kind.capitalize()}{fmt.capitalize()}", (_Document,), attrs)


#: every CPF and CNPJ spelling by converter name (`cpf_digitos`, ...), for the registry.
DOCUMENT_SPELLINGS: dict[str, type[_Document]] = {
    cls.name: cls
    for kind, length in (("cpf", 11), ("cnpj", 14))
    for cls in (_spelling(kind, length, f) for f in _DOC_FORMATS)
}


class Documento(_Spelled):
    """One column holding a CPF or a CNPJ (`cpf_cnpj`). Map both fields on it with this
    converter and `tipo: cpf` / `tipo: cnpj`: each reads its own kind and None for the
    other; on write the engine puts whichever is present (see `EntityMap.to_columns`).
    `formato`: formatado | digitos | numero (default digitos)."""

    name = "documento"
    options = _Spelled.options | {"tipo"}
    formats, default_format = _DOC_FORMATS, "digitos"

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        tipo = self.opcoes.get("tipo")
        if tipo not in ("cpf", "cnpj"):
            raise ConverterOptionError("tipo", "use 'cpf' ou 'cnpj' (o campo que esta coluna alimenta)")
        self.tipo: str = tipo
        shape = {k: v for k, v in self.opcoes.items() if k in _TextShaped.options}
        self._cpf = DOCUMENT_SPELLINGS[f"cpf_{self.fmt}"](shape)
        self._cnpj = DOCUMENT_SPELLINGS[f"cnpj_{self.fmt}"](shape)

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
