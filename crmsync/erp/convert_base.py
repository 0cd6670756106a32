"""The base of the ERP column converters (see :mod:`crmsync.erp.converters`): the errors,
the `Converter` contract (None and `vazio` handled once, for every converter), the text
shape shared by text columns (length, fixed width, charset), and the small helpers the
converter modules share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from crmsync.mapping import normalize as n


class ConversionError(ValueError):
    """A value that does not convert; `reason` is Portuguese, shown to the store's user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConverterOptionError(ValueError):
    """Options of a converter in the map that make no sense (`opcoes.<key>` named)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


# MySQL's "latin1" is Windows-1252 plus the five bytes cp1252 leaves undefined, which
# MySQL maps to the C1 controls of the same number.
_MYSQL_LATIN1_EXTRA = frozenset("\x81\x8d\x8f\x90\x9d")


def _fits_mysql_latin1(text: str) -> str | None:
    for ch in text:
        if ch in _MYSQL_LATIN1_EXTRA:
            continue
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            return ch
    return None


def _fits_iso8859_1(text: str) -> str | None:
    for ch in text:
        if ord(ch) > 0xFF:
            return ch
    return None


def _fits_utf8mb3(text: str) -> str | None:
    for ch in text:
        if ord(ch) > 0xFFFF:
            return ch
    return None


_CHARSETS: dict[str, Callable[[str], str | None]] = {
    "latin1": _fits_mysql_latin1,
    "cp1252": _fits_mysql_latin1,
    "iso8859_1": _fits_iso8859_1,
    "utf8mb3": _fits_utf8mb3,
    "utf8": lambda _text: None,
    "utf8mb4": lambda _text: None,
}


def _same(raw: Any, marker: Any) -> bool:
    """Compare a column value with a value written in the YAML map (which may be "0" or 0)."""
    if raw is None or marker is None:
        return raw is None and marker is None
    left = raw.strip() if isinstance(raw, str) else raw
    right = marker.strip() if isinstance(marker, str) else marker
    try:
        if left == right:
            return True
    except ArithmeticError:  # a signalling NaN refuses even to be compared
        return False
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    return str(left) == str(right)


def _converted(convert: Callable[[Any], Any], value: Any) -> Any:
    """`convert(value)` with every failure a ConversionError: a value no branch foresaw (NaN
    in a DECIMAL, 1e24 in a FLOAT) becomes a failed item with the value named, never a
    crashed run, in both directions."""
    try:
        return convert(value)
    except ConversionError:
        raise
    except n.NormalizationError as exc:
        raise ConversionError(exc.message) from exc
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ConversionError(f"valor inválido: {value!r}") from exc


class Converter:
    """One column spelling <-> canonical value. Subclasses implement `_read` and `_write`
    for non-empty values; the base handles None and the `vazio` option."""

    name: ClassVar[str] = ""
    #: option keys this converter accepts besides `vazio`.
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        self.opcoes: dict[str, Any] = dict(opcoes or {})
        allowed = self.options | {"vazio"}
        for key in self.opcoes:
            if key not in allowed:
                choices = ", ".join(sorted(allowed))
                raise ConverterOptionError(key, f"opção desconhecida para o conversor '{self.name}' (use: {choices})")
        self.vazio: Any = self.opcoes.get("vazio")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Converter) and type(other) is type(self) and other.opcoes == self.opcoes

    def __hash__(self) -> int:
        return hash((type(self), repr(sorted(self.opcoes.items(), key=repr))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.opcoes!r})"

    def to_canonical(self, raw: Any) -> Any:
        """The canonical value of what the column holds (None for "nothing")."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if self.vazio is not None and _same(raw, self.vazio):
            return None
        if isinstance(raw, (bytes, bytearray, memoryview)):
            try:
                raw = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConversionError("texto com codificação inválida") from exc
        return _converted(self._read, raw)

    def to_column(self, value: Any) -> Any:
        """What to write in the column for a canonical value."""
        if value is None:
            return self.vazio
        return _converted(self._write, value)

    def _read(self, raw: Any) -> Any:
        raise NotImplementedError

    def _write(self, value: Any) -> Any:
        raise NotImplementedError


def _number_digits(raw: Any) -> str | None:
    """The digits of a whole number held in a numeric column (a document or CEP that lost
    its leading zeros), None when `raw` is not numeric; ConversionError for NaN, infinity,
    a fraction or a negative number."""
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, float)):
        return None
    if isinstance(raw, int):
        number = raw
    else:
        if (isinstance(raw, Decimal) and not raw.is_finite()) or (isinstance(raw, float) and raw != raw):
            raise ConversionError(f"número inválido: {raw!r}")
        try:
            number = int(raw)
        except (ValueError, OverflowError) as exc:
            raise ConversionError(f"número inválido: {raw!r}") from exc
        if number != raw:
            raise ConversionError(f"número com casas decimais: {raw!r}")
    if number < 0:
        raise ConversionError(f"número negativo: {raw!r}")
    return str(number)


def _int_option(opcoes: Mapping[str, Any], key: str, low: int = 1) -> int | None:
    value = opcoes.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConverterOptionError(key, f"deve ser um número inteiro >= {low}")
    return value


class _TextShaped(Converter):
    """Text columns: CHAR padding stripped on read; length, width and charset enforced on write."""

    options = frozenset({"tamanho", "largura", "charset"})

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        self.tamanho = _int_option(self.opcoes, "tamanho")
        self.largura = _int_option(self.opcoes, "largura")
        charset = self.opcoes.get("charset")
        if charset is not None and str(charset).lower() not in _CHARSETS:
            choices = ", ".join(sorted(_CHARSETS))
            raise ConverterOptionError("charset", f"charset desconhecido '{charset}' (use: {choices})")
        self._fits = _CHARSETS[str(charset).lower()] if charset is not None else None

    def _text_in(self, raw: Any) -> str:
        text = raw if isinstance(raw, str) else str(raw)
        return text.rstrip(" ") if self.largura is not None or isinstance(raw, str) else text

    def _text_out(self, text: str) -> str:
        limit = self.largura if self.tamanho is None else self.tamanho
        if self.largura is not None and self.tamanho is not None:
            limit = min(self.largura, self.tamanho)
        if limit is not None and len(text) > limit:
            raise ConversionError(f"texto com {len(text)} caracteres não cabe na coluna ({limit})")
        if self._fits is not None:
            bad = self._fits(text)
            if bad is not None:
                raise ConversionError(
                    f"caractere {bad!r} (U+{ord(bad):04X}) não cabe no charset {self.opcoes['charset']} da coluna"
                )
        if self.largura is not None:
            text = text.ljust(self.largura)
        return text


class _Spelled(_TextShaped):
    """A text column whose spelling the map chooses with `formato`, one of `formats`
    (`default_format` when the map says none): CEPs, phones, CPF/CNPJ in one column."""

    options = _TextShaped.options | {"formato"}
    formats: ClassVar[tuple[str, ...]] = ()
    default_format: ClassVar[str] = ""

    def __init__(self, opcoes: Mapping[str, Any] | None = None) -> None:
        super().__init__(opcoes)
        fmt = self.opcoes.get("formato", self.default_format)
        if fmt not in self.formats:
            raise ConverterOptionError("formato", f"formato desconhecido '{fmt}' (use: {', '.join(self.formats)})")
        self.fmt: str = fmt
