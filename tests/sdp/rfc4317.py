"""Loader for the RFC 4317 offer/answer examples in corpus/rfc4317.txt."""

from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def examples() -> dict[tuple[str, str], str]:
    """{(section, role): SDP text with CRLF line ends}; roles are offer, answer, second-offer,
    second-answer."""
    result: dict[tuple[str, str], str] = {}
    key = None
    for line in (CORPUS / "rfc4317.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("=== "):
            section, role = line[4:].split()
            key = (section, role)
            result[key] = ""
        elif key is not None:
            result[key] += line + "\r\n"
    return result


EXAMPLES = examples()
